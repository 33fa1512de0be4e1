"""Built-in renderers write exactly what Ollama's renderers of the same name write.

The expected prompts in ``tests/fixtures/ollama/renderers/<name>.json`` were rendered
by Ollama's own ``model/renderers`` code from the conversations in
``conversations.json`` (tools with types, enums and HTML characters, tool calls with
every kind of argument, tool results, earlier reasoning, prefills, several system
messages), with ``think`` unset, true, false and at each level where it matters.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from typing import Any

import pytest

from builder.templates.renderers import (
    RENDERER_NAMES,
    Renderer,
    architecture_defaults,
    renderer_named,
)
from builder.templates.renderers.glimmer import Glimmer
from builder.templates.renderers.values import go_json, go_sprint, tools_of
from ladle.errors import TemplateError
from tests.conftest import FIXTURES, load_fixture_json

CONVERSATIONS: dict[str, Any] = load_fixture_json("ollama", "renderers", "conversations.json")[
    "conversations"
]


def _cases() -> list[Any]:
    cases = []
    for name in RENDERER_NAMES:
        fixture = load_fixture_json("ollama", "renderers", f"{name}.json")
        for key, expected in fixture["renders"].items():
            cases.append(pytest.param(name, key, expected, id=f"{name}:{key}"))
    return cases


# Glimmer's default system message holds the date it is rendered on: its expected
# renders were made on this one.
GLIMMER_RENDERED_ON = "2026-12-04"

# Every name model/renderers/renderer.go (ollama/ollama@fb30760) answers to.
OLLAMA_RENDERERS = {
    "qwen3-coder", "qwen3-vl-instruct", "qwen3-vl-thinking", "qwen3.5", "qwen3.8", "ornith",
    "cogito", "deepseek3.1", "olmo3", "olmo3.1", "olmo3-think", "olmo3-32b-think",
    "nemotron-3-nano", "nemotron-3.5-nano", "gemma4", "gemma4-small", "gemma4-large",
    "functiongemma", "glm-4.7", "glm-ocr", "lfm2", "lfm2-thinking", "laguna", "poolside-v1",
    "cohere", "glimmer",
}  # fmt: skip


def _pinned(name: str) -> Renderer:
    """The renderer ``name``, on the day its expected renders were made."""
    renderer = renderer_named(name)
    if name == "glimmer":
        return dataclasses.replace(renderer, function=Glimmer(GLIMMER_RENDERED_ON))
    return renderer


def _request(key: str) -> tuple[dict[str, Any], Any]:
    """The conversation a case key names, and its ``think`` (``None`` when unset)."""
    conversation, _, think = key.partition(" think=")
    return CONVERSATIONS[conversation], json.loads(think) if think else None


@pytest.mark.parametrize(("renderer", "key", "expected"), _cases())
def test_renders_as_ollama_does(renderer: str, key: str, expected: Any) -> None:
    conversation, think = _request(key)
    render = _pinned(renderer)
    if isinstance(expected, dict):  # Ollama refuses this conversation
        with pytest.raises(TemplateError) as refused:
            render.render(conversation["messages"], conversation.get("tools"), think)
        assert refused.value.reason == expected["error"]
        assert refused.value.origin == f"renderer {renderer}"
        return
    assert render.render(conversation["messages"], conversation.get("tools"), think) == expected


def test_every_renderer_has_its_expected_renders() -> None:
    files = {path.stem for path in FIXTURES.joinpath("ollama", "renderers").iterdir()}
    assert files - {"conversations"} == set(RENDERER_NAMES)
    for name in RENDERER_NAMES:
        renders = load_fixture_json("ollama", "renderers", f"{name}.json")["renders"]
        conversations = {key.partition(" think=")[0] for key in renders}
        assert conversations == set(CONVERSATIONS)  # every conversation, for every renderer


def test_openai_tool_call_arguments_as_text_render_like_an_object() -> None:
    call = {"function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}}
    as_text = {"function": {"name": "get_weather", "arguments": '{"city": "Paris", "days": 3}'}}
    turns = [{"role": "user", "content": "Weather?"}, {"role": "assistant", "content": ""}]
    for name in ("qwen3-coder", "deepseek3.1", "glm-4.7", "lfm2"):
        render = renderer_named(name).render
        with_object = render([turns[0], {**turns[1], "tool_calls": [call]}])
        with_text = render([turns[0], {**turns[1], "tool_calls": [as_text]}])
        assert with_object == with_text and "Paris" in with_text


def test_openai_reasoning_content_is_the_messages_thinking() -> None:
    render = renderer_named("glm-4.7").render
    turns = [{"role": "user", "content": "2+2?"}]
    ollama = render([*turns, {"role": "assistant", "content": "4", "thinking": "add"}])
    openai = render([*turns, {"role": "assistant", "content": "4", "reasoning_content": "add"}])
    assert ollama == openai and "<think>add</think>4" in ollama


def test_every_renderer_ollama_registers_is_built_in() -> None:
    assert set(RENDERER_NAMES) == OLLAMA_RENDERERS


def test_glimmer_dates_its_default_system_message_today() -> None:
    before = datetime.date.today().isoformat()
    prompt = renderer_named("glimmer").render([{"role": "user", "content": "Hi"}])
    days = {before, datetime.date.today().isoformat()}  # a render at midnight may see either
    assert any(f"Current date: {day}." in prompt for day in days)
    with_system = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert "Current date" not in renderer_named("glimmer").render(with_system)


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError) as unknown:
        renderer_named("qwen4")
    message = str(unknown.value)
    assert message.startswith("unknown RENDERER 'qwen4'; known renderers: ")
    assert all(name in message for name in RENDERER_NAMES)


def test_only_the_architectures_ollama_names_get_a_renderer() -> None:
    # server/create.go: gemma4, laguna and the nemotron_h family; nothing else.
    assert architecture_defaults("gemma4") == ("gemma4", "gemma4")
    assert architecture_defaults("laguna") == ("laguna", "laguna")
    assert architecture_defaults("nemotron_h_moe") == ("nemotron-3-nano", "nemotron-3-nano")
    for architecture in ("llama", "qwen3", "gemma3", "deepseek2", "lfm2"):
        assert architecture_defaults(architecture) == (None, None)


def test_leading_bos_is_the_text_each_renderer_starts_with() -> None:
    for name in RENDERER_NAMES:
        renderer = renderer_named(name)
        prompt = renderer.render([{"role": "user", "content": "Hi"}])
        assert prompt.startswith(renderer.leading_bos)
    assert renderer_named("cogito").leading_bos == "<｜begin▁of▁sentence｜>"  # noqa: RUF001
    assert renderer_named("lfm2").leading_bos == "<|startoftext|>"


@pytest.mark.parametrize(
    ("number", "as_json", "as_text"),
    # What Go 1.27 prints: json.Marshal and fmt's %v of a float64.
    [
        (5, "5", "5"),
        (1234567, "1234567", "1.234567e+06"),
        (123456, "123456", "123456"),
        (1e20, "100000000000000000000", "1e+20"),
        (1e21, "1e+21", "1e+21"),
        (0.0001, "0.0001", "0.0001"),
        (0.00001, "0.00001", "1e-05"),
        (1.5, "1.5", "1.5"),
        (-2.25e-7, "-2.25e-7", "-2.25e-07"),
        (12345678901234567890, "12345678901234567000", "1.2345678901234567e+19"),
        (1e6, "1000000", "1e+06"),
    ],
)
def test_numbers_are_written_as_go_writes_a_float64(
    number: float, as_json: str, as_text: str
) -> None:
    assert go_json(number) == as_json
    assert go_sprint(number) == as_text


def test_tools_keep_go_field_order_and_drop_unknown_keys() -> None:
    tool = {
        "function": {
            "parameters": {"properties": {"b": {"type": "string"}, "a": {}}, "type": "object"},
            "name": "f",
            "strict": True,
        },
        "type": "function",
    }
    assert go_json(tools_of([tool])) == (
        '[{"type":"function","function":{"name":"f","parameters":{"type":"object",'
        '"properties":{"b":{"type":"string"},"a":{}}}}}]'
    )
