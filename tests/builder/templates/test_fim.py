"""Fill in the middle: which models can (a template reading ``.Suffix``, FIM tokens in
the vocabulary) and the prompt each gets. The expected renders of the Go templates are
what Go's text/template writes for them on Ollama's suffix values."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

from builder.gguf.file import inspect_gguf
from builder.templates.chat_template import compile_template
from builder.templates.fim import fill_in, supports_insert, takes_suffix
from builder.templates.go_template import convert_go_template
from builder.templates.thinking import Think
from tests.fixtures.tiny_gguf import FIM_TOKENS, write_tiny_llama

CODELLAMA = (  # Ollama's own test template (template/template_test.go)
    "{{- if .Suffix }}<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>\n"
    "{{- else }}{{ .Prompt }}\n{{- end }}"
)
MESSAGES = (
    "{{- if .Suffix }}<|fim_prefix|>{{ .Prompt }}<|fim_suffix|>{{ .Suffix }}<|fim_middle|>"
    "{{- else }}{{ range .Messages }}{{ .Content }}{{ end }}{{ end }}"
)
TRAILING = (
    "{{ if .Suffix }}<fim_prefix>{{ .Prompt }}<fim_suffix>{{ .Suffix }}<fim_middle>"
    "{{ else }}Q: {{ .Prompt }}\nA: {{ .Response }}{{ end }}<|endoftext|>"
)
THINKING = (
    "{{ if .Suffix }}{{ if .Think }}[{{ .ThinkLevel }}]{{ end }}"
    "{{ .Prompt }}|{{ .Suffix }}{{ end }}"
)


def _converted(go: str) -> str:
    return convert_go_template(go)


@pytest.mark.parametrize(
    ("template", "think", "expected"),
    [
        (CODELLAMA, None, "<PRE> def add( <SUF>    return c <MID>"),
        (MESSAGES, None, "<|fim_prefix|>def add(<|fim_suffix|>    return c<|fim_middle|>"),
        # Text after an {{ .Response }} that Ollama's last-turn cut would drop: a FIM
        # render runs the template whole, so it stays.
        (TRAILING, None, "<fim_prefix>def add(<fim_suffix>    return c<fim_middle><|endoftext|>"),
        (THINKING, "high", "[high]def add(|    return c"),
        (THINKING, False, "def add(|    return c"),
    ],
)
def test_a_template_reading_suffix_writes_the_prompt(
    template: str, think: Think, expected: str
) -> None:
    compiled = compile_template(_converted(template))
    assert fill_in(compiled, None, "def add(", "    return c", think) == expected
    # the template wins over FIM tokens
    assert fill_in(compiled, FIM_TOKENS, "def add(", "    return c", think) == expected


def test_fim_tokens_write_prefix_suffix_middle() -> None:
    plain = compile_template("{% for m in messages %}{{ m.content }}{% endfor %}")
    assert fill_in(plain, ("<a>", "<b>", "<c>"), "p", "s") == "<a>p<b>s<c>"
    assert fill_in(plain, None, "p", "s") is None


def test_which_templates_take_a_suffix() -> None:
    assert takes_suffix(_converted(CODELLAMA)) and takes_suffix(_converted(MESSAGES))
    assert not takes_suffix(_converted("{{ .System }} {{ .Prompt }}"))
    assert not takes_suffix(_converted("{{ .Prompt }} .Suffix is only text"))
    assert not takes_suffix("{{ messages }} {{ suffix }} .Suffix")  # Jinja: never
    assert not takes_suffix(None)
    assert supports_insert(None, FIM_TOKENS) and not supports_insert(None, None)


@pytest.mark.parametrize("fim", ["ids", "text"])
def test_fim_tokens_are_found_by_id_or_by_text(tmp_path: Path, fim: Literal["ids", "text"]) -> None:
    info = inspect_gguf(write_tiny_llama(tmp_path / "fim.gguf", fim=fim))
    assert info.fim_tokens == FIM_TOKENS
    assert info.capabilities == ("completion", "insert")


def test_a_vocabulary_without_them_has_no_insert(tiny_model: Path) -> None:
    info = inspect_gguf(tiny_model)
    assert info.fim_tokens is None and info.capabilities == ("completion",)
    assert info.adds_bos  # the tiny tokenizer's add_bos_token
