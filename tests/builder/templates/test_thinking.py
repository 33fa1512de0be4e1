"""Reasoning between tags (:mod:`builder.templates.thinking`), the PARSER names and the
parser a template implies (:mod:`builder.templates.parsers`), and ``think`` reaching
Jinja and converted Go templates."""

from __future__ import annotations

import pytest

from builder.templates.chat_template import compile_template
from builder.templates.go_template import convert_go_template, render_messages
from builder.templates.parsers import (
    PARSER_NAMES,
    THINK,
    parser_for_image,
    parser_for_template,
    parser_named,
)
from builder.templates.thinking import (
    Split,
    Think,
    ThinkingStream,
    ThinkTags,
    template_variables,
    think_level,
)

USER = [{"role": "user", "content": "hi"}]


def whole(text: str, *, inside: bool = False, ends: str = "") -> Split:
    stream = ThinkingStream(THINK, inside=inside, ends_thinking=ends)
    return stream.feed(text) + stream.finish()


# -- the stream ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "inside", "thinking", "content"),
    [
        ("<think>a</think>b", False, "a", "b"),
        ("\n <think>\n\n a b \n</think>\n\n b c ", False, "a b", "b c "),
        ("no thoughts <think>x</think>", False, "", "no thoughts <think>x</think>"),
        ("  plain", False, "", "  plain"),
        ("a</think>b", True, "a", "b"),
        ("<think>a</think>b", True, "a", "b"),  # the model repeats the prompt's tag
        ("<think>cut off", False, "cut off", ""),
        ("cut off", True, "cut off", ""),
        ("<thi", False, "", "<thi"),
        ("", True, "", ""),
        ("<think></think>answer", False, "", "answer"),
        ("a</think>b</think>c", True, "a", "b</think>c"),
    ],
)
def test_reasoning_and_answer(text: str, inside: bool, thinking: str, content: str) -> None:
    assert whole(text, inside=inside) == Split(thinking, content)


def test_a_call_marker_ends_the_reasoning_and_stays_in_the_answer() -> None:
    split = whole("<think>I will call.<tool_call>{}</tool_call>", ends="<tool_call>")
    assert split == Split("I will call.", "<tool_call>{}</tool_call>")
    after = whole("<think>x</think><tool_call>{}", ends="<tool_call>")
    assert after == Split("x", "<tool_call>{}")


def test_other_tags() -> None:
    stream = ThinkingStream(ThinkTags("[THINK]", "[/THINK]"))
    assert stream.feed("[THINK]hm[/TH") == Split("hm", "")
    assert stream.feed("INK]ok") + stream.finish() == Split("", "ok")


def test_blanks_that_may_end_the_reasoning_are_held() -> None:
    stream = ThinkingStream(THINK, inside=True)
    assert stream.feed("one \n") == Split("one", "")
    assert stream.feed("two") == Split(" \ntwo", "")
    assert stream.feed(" </think>") == Split("", "")


# -- think values ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("think", "level", "variables"),
    [
        (None, "", {}),
        (False, "", {"enable_thinking": False, "thinking": False}),
        (True, "medium", {"enable_thinking": True, "thinking": True, "reasoning_effort": "medium"}),
        ("low", "low", {"enable_thinking": True, "thinking": True, "reasoning_effort": "low"}),
        ("max", "max", {"enable_thinking": True, "thinking": True, "reasoning_effort": "high"}),
    ],
)
def test_what_templates_are_told(think: Think, level: str, variables: dict[str, object]) -> None:
    assert think_level(think) == level
    assert template_variables(think) == variables


QWEN3_STYLE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n"
    "{% if m.reasoning_content %}<think>\n{{ m.reasoning_content }}\n</think>\n\n{% endif %}"
    "{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}"
    "<think>\n\n</think>\n\n{% endif %}{% endif %}"
)


@pytest.mark.parametrize(("think", "closed"), [(None, False), (True, False), (False, True)])
def test_jinja_templates_get_enable_thinking(think: Think, closed: bool) -> None:
    prompt = render_messages(compile_template(QWEN3_STYLE), USER, think=think)
    assert prompt.endswith("<think>\n\n</think>\n\n") is closed


def test_an_earlier_answers_thinking_is_its_reasoning_content() -> None:
    turns = [*USER, {"role": "assistant", "content": "Hello", "thinking": "greet back"}]
    prompt = render_messages(compile_template(QWEN3_STYLE), turns, think=True)
    assert "<think>\ngreet back\n</think>\n\nHello" in prompt


GO_TEMPLATE = (
    "{{ range .Messages }}{{ .Role }}: {{ .Content }}\n{{ end }}"
    "think={{ .Think }} level={{ .ThinkLevel }} set={{ .IsThinkSet }}"
    "{{ if .Thinking }}{{ end }}"
)


@pytest.mark.parametrize(
    ("think", "shown"),
    [
        (None, "think=false level= set=false"),
        (False, "think=false level= set=true"),
        (True, "think=true level=medium set=true"),
        ("high", "think=true level=high set=true"),
    ],
)
def test_go_templates_get_think_level_and_is_think_set(think: Think, shown: str) -> None:
    template = compile_template(convert_go_template(GO_TEMPLATE))
    assert render_messages(template, USER, think=think).endswith(shown)


def test_legacy_go_templates_get_them_too() -> None:
    source = "{{ .Prompt }} {{ if .Think }}<think>{{ .ThinkLevel }}{{ end }}{{ .Response }}"
    template = compile_template(convert_go_template(source))
    assert render_messages(template, USER, think="low") == "hi <think>low"


# -- parsers ---------------------------------------------------------------------------


def test_parser_names_are_ollamas() -> None:
    assert {"passthrough", "qwen3", "qwen3-thinking", "harmony", "ministral"} <= set(PARSER_NAMES)
    for name in PARSER_NAMES:
        assert parser_named(name).name == name


def test_an_unknown_parser_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown PARSER 'qwen9'") as refused:
        parser_named("qwen9")
    assert all(known in str(refused.value) for known in PARSER_NAMES)
    assert "glimmer" in PARSER_NAMES  # every one of Ollama's


@pytest.mark.parametrize(
    ("template", "name", "thinks"),
    [
        ("{{ m.content }}<think>\n\n</think>\n\n", "think", True),
        ("{% set c = content.split('</think>')[-1] %}", "think", True),
        ('{%- set c = message.content.split("</think>")[-1] %}', "think", True),
        ("<|start|>assistant<|channel|>final<|message|>", "harmony", True),
        ("[SYSTEM_PROMPT][THINK]x[/THINK]", "ministral", True),
        ("<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>", "passthrough", False),
        (None, "passthrough", False),
    ],
)
def test_the_parser_a_template_implies(template: str | None, name: str, thinks: bool) -> None:
    parser = parser_for_template(None, template)
    assert (parser.name, parser.thinks) == (name, thinks)


def test_gpt_oss_by_its_family_and_a_parser_that_ladle_lacks() -> None:
    assert parser_for_template("gptoss", "{{ messages }}").harmony
    assert parser_for_image("qwen3-thinking", None, None).opened_by_template
    assert parser_for_image("glm-9", None, "<think></think>").name == "think"


def test_named_parsers_bring_their_tool_format() -> None:
    assert parser_named("qwen3").tool_parser(None, None) is not None
    assert parser_named("passthrough").tool_parser(None, "{{ prompt }}") is None
    harmony = parser_named("harmony")
    assert harmony.tool_parser(None, None) is None and harmony.takes_tools(None, None)


def test_the_markup_a_runner_must_show() -> None:
    assert parser_named("qwen3-thinking").markup == ("<think>", "</think>", "<tool_call>")
    assert parser_named("ministral").markup == ("[THINK]", "[/THINK]", "[TOOL_CALLS]")
    assert "<|channel|>" in parser_named("harmony").markup
    assert parser_named("passthrough").markup == ()
