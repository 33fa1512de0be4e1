"""Fill in the middle: ``suffix`` on ``/api/generate`` and ``/v1/completions``.

The prompts are checked twice: exactly, as a scripted runner receives them, and end to
end on the tiny model, whose returned ``context`` holds the prompt's token ids (FIM
control tokens included) as llama.cpp tokenized it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import llama_cpp
import pytest

from builder.store.store import Store
from tests.fixtures.tiny_gguf import BOS_ID, write_tiny_llama

from .conftest import MakeClient, build
from .test_behaviour import Script, scripted

pytestmark = pytest.mark.anyio

CODELLAMA = """{{- if .Suffix }}<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>
{{- else }}{{ .Prompt }}
{{- end }}"""
"""Ollama's own test template (server/routes_generate_test.go): a legacy template."""

QWEN_CODER = """{{- if .Suffix }}<|fim_prefix|>{{ .Prompt }}<|fim_suffix|>{{ .Suffix }}\
<|fim_middle|>
{{- else if .Messages }}
{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ end }}{{ .Response }}{{ if .Response }}<|im_end|>{{ end }}"""
"""Qwen2.5-Coder's shape (a ``.Messages`` template)."""

STARCODER = """{{ if .Suffix }}<fim_prefix>{{ .Prompt }}<fim_suffix>{{ .Suffix }}<fim_middle>\
{{ else }}### Instruction
{{ .Prompt }}
### Response
{{ .Response }}{{ end }}<|endoftext|>"""
"""Text after an ``{{ .Response }}``: Ollama's FIM render keeps it (run on Go's
text/template, the prompt below ends with ``<|endoftext|>``)."""

PREFIX, SUFFIX = "def add(", "    return c"
FIM_PROMPTS = {
    "fim-codellama": "<PRE> def add( <SUF>    return c <MID>",
    "fim-qwen": "<|fim_prefix|>def add(<|fim_suffix|>    return c<|fim_middle|>",
    "fim-starcoder": "<fim_prefix>def add(<fim_suffix>    return c<fim_middle><|endoftext|>",
    "fim-tokens": "<|fim_prefix|>def add(<|fim_suffix|>    return c<|fim_middle|>",
}


@pytest.fixture
def fim_models(models: Path, tmp_path: Path) -> Path:
    """The API's store, plus FIM models: three Ollama templates and FIM tokens."""
    store, source = Store(models), tmp_path / "src"
    tiny = source / "tiny.gguf"
    source.mkdir()
    write_tiny_llama(tiny)
    with_tokens = write_tiny_llama(source / "fim.gguf", fim="ids")
    base = f"FROM {tiny}\nPARAMETER num_ctx 256\nPARAMETER num_predict 4\nSYSTEM unused\n"
    for name, template in (
        ("fim-codellama", CODELLAMA),
        ("fim-qwen", QWEN_CODER),
        ("fim-starcoder", STARCODER),
    ):
        build(store, source, name, f'{base}TEMPLATE """{template}"""\n')
    build(store, source, "fim-tokens", f"FROM {with_tokens}\nPARAMETER num_predict 4\n")
    return models


def _generate(model: str, **fields: Any) -> dict[str, Any]:
    return {"model": model, "prompt": PREFIX, "suffix": SUFFIX, "stream": False, **fields}


@pytest.mark.parametrize("model", sorted(FIM_PROMPTS))
async def test_the_prompt_is_the_models_fill_in_the_middle_prompt(
    make_client: MakeClient, fim_models: Path, model: str
) -> None:
    script = Script()
    client = await make_client(runner_factory=scripted(script))
    response = await client.post("/api/generate", json=_generate(model))
    assert response.status_code == 200, response.text
    completion = {"model": model, "prompt": PREFIX, "suffix": SUFFIX, "max_tokens": 4}
    response = await client.post("/v1/completions", json=completion)
    assert response.status_code == 200, response.text
    # Neither the image's SYSTEM nor a chat turn: only the prompt and the suffix.
    assert [request.prompt for request in script.requests] == [FIM_PROMPTS[model]] * 2


async def test_a_request_template_that_reads_the_suffix_is_used(
    make_client: MakeClient, fim_models: Path
) -> None:
    script = Script()
    client = await make_client(runner_factory=scripted(script))
    body = _generate("tiny", template="{{ .Suffix }}|{{ .Prompt }}")
    response = await client.post("/api/generate", json=body)
    assert response.status_code == 200, response.text
    assert script.requests[0].prompt == f"{SUFFIX}|{PREFIX}"


async def test_a_model_that_cannot_fill_in_gives_ollamas_400(make_client: MakeClient) -> None:
    client = await make_client()
    response = await client.post("/api/generate", json=_generate("tiny"))
    assert response.status_code == 400
    # Ollama: "registry.ollama.ai/library/test:latest does not support insert"
    error = "suffix: registry.ollama.ai/library/tiny:latest does not support insert"
    assert response.json() == {"error": error}
    completion = {"model": "tiny", "prompt": PREFIX, "suffix": SUFFIX}
    response = await client.post("/v1/completions", json=completion)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "suffix"
    assert "does not support insert" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"raw": True}, "raw"),
        ({"system": "be brief"}, "system"),
        ({"template": "{{ .Prompt }}"}, "template"),
    ],
)
async def test_what_a_suffix_cannot_go_with_is_refused_by_name(
    make_client: MakeClient, fim_models: Path, fields: dict[str, Any], field: str
) -> None:
    client = await make_client()
    response = await client.post("/api/generate", json=_generate("fim-codellama", **fields))
    assert response.status_code == 400
    assert response.json()["error"].startswith(f"{field}: ")


def _tokens(model: Path, text: str) -> list[int]:
    """``text``'s ids as the runner tokenizes a prompt (special tokens parsed)."""
    llm = llama_cpp.Llama(str(model), n_ctx=64, vocab_only=True, verbose=False)
    try:
        return list(llm.tokenize(text.encode(), add_bos=True, special=True))
    finally:
        llm.close()


@pytest.mark.parametrize("model", ["fim-tokens", "fim-codellama"])
async def test_the_tiny_model_fills_in_from_the_fim_prompt(
    make_client: MakeClient, fim_models: Path, model: str, tmp_path: Path
) -> None:
    client = await make_client()
    response = await client.post("/api/generate", json=_generate(model))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["done"] and answer["eval_count"] > 0
    weights = tmp_path / "src" / ("fim.gguf" if model == "fim-tokens" else "tiny.gguf")
    expected = _tokens(weights, FIM_PROMPTS[model])
    assert expected[0] == BOS_ID
    assert answer["prompt_eval_count"] == len(expected)
    assert answer["context"][: len(expected)] == expected
    if model == "fim-tokens":  # each FIM text is its one control token (the last ids)
        assert {381, 382, 383} <= set(expected)


async def test_show_lists_insert_for_the_models_that_fill_in(
    make_client: MakeClient, fim_models: Path
) -> None:
    client = await make_client()
    for model in [*FIM_PROMPTS, "tiny"]:
        shown = (await client.post("/api/show", json={"model": model})).json()
        assert ("insert" in shown["capabilities"]) == (model != "tiny"), model
