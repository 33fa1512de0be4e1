"""gpt-oss's harmony channels (:mod:`builder.templates.harmony`)."""

from __future__ import annotations

import pytest

from builder.templates.harmony import HarmonyStream, Header
from builder.templates.thinking import Split
from builder.templates.tool_calls import ToolCall

PROMPT = "<|start|>user<|message|>hi<|end|><|start|>assistant"


def read(text: str, prompt: str = PROMPT) -> tuple[Split, list[ToolCall]]:
    stream = HarmonyStream.after_prompt(prompt)
    shown = stream.feed(text)
    end = stream.finish()
    return shown + end.rest, end.tool_calls


@pytest.mark.parametrize(
    ("text", "header"),
    [
        ("assistant<|channel|>analysis", Header("assistant", "analysis")),
        ("assistant<|channel|>final", Header("assistant", "final")),
        (
            "assistant<|channel|>commentary to=functions.f <|constrain|>json",
            Header("assistant", "commentary", "functions.f"),
        ),
        (
            "assistant to=functions.f<|channel|>commentary<|constrain|>json",
            Header("assistant", "commentary", "functions.f"),
        ),
        ("to=browser.search<|channel|>commentary", Header("tool", "commentary", "browser.search")),
        ("assistant<|channel|>", Header("assistant", "")),
        ("", Header()),
    ],
)
def test_headers(text: str, header: Header) -> None:
    assert Header.parse(text) == header


def test_channels() -> None:
    text = (
        "<|channel|>analysis<|message|>think<|end|>"
        "<|start|>assistant<|channel|>commentary<|message|>preamble. <|end|>"
        "<|start|>assistant<|channel|>final<|message|>answer<|return|>"
    )
    assert read(text) == (Split("think", "preamble. answer"), [])


def test_calls_of_functions_and_of_built_in_tools() -> None:
    text = (
        "<|channel|>analysis<|message|>two calls<|end|>"
        '<|start|>assistant<|channel|>commentary to=functions.f <|constrain|>json<|message|>{"a":1}'
        "<|call|>"
        "<|start|>assistant to=browser.search<|channel|>analysis<|message|>{}<|call|>"
    )
    split, calls = read(text)
    assert split == Split("two calls", "")
    assert calls == [ToolCall(name="f", arguments={"a": 1}), ToolCall(name="browser.search")]


def test_arguments_that_are_no_object_stay_in_the_answer() -> None:
    text = "<|channel|>commentary to=functions.f<|message|>[1, 2]<|call|>"
    assert read(text) == (Split("", "[1, 2]"), [])


def test_a_reply_cut_off_keeps_what_it_said() -> None:
    assert read("<|channel|>analysis<|message|>still thinking") == (Split("still thinking"), [])
    cut_call = '<|channel|>commentary to=functions.f<|message|>{"a": 1}'
    assert read(cut_call) == (Split(), [ToolCall(name="f", arguments={"a": 1})])


def test_a_partial_end_tag_is_held_back() -> None:
    stream = HarmonyStream.after_prompt(PROMPT)
    assert stream.feed("<|channel|>final<|message|>Hi<|e") == Split("", "Hi")
    assert stream.feed("nd|>") == Split()


def test_a_prompt_that_opens_the_final_channel() -> None:
    prompt = PROMPT + "<|channel|>final<|message|>"
    assert read("Sure.", prompt) == (Split("", "Sure."), [])


def test_a_prompt_without_harmony_starts_an_assistant_message() -> None:
    assert read("<|channel|>final<|message|>ok", "plain prompt") == (Split("", "ok"), [])


def test_a_reply_without_any_harmony_is_shown_as_it_is() -> None:
    """A runner that dropped the control tokens leaves bare text: shown, not lost."""
    assert read("analysisthinkingassistantfinalHello") == (
        Split("", "analysisthinkingassistantfinalHello"),
        [],
    )


def test_text_between_messages_is_no_channel() -> None:
    text = "<|channel|>final<|message|>a<|end|>stray<|start|>assistant<|channel|>final<|message|>b"
    assert read(text) == (Split("", "ab"), [])
