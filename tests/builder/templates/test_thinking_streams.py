"""Replies of real reasoning models, token by token (``tests/fixtures/thinking``), read by
:class:`~builder.templates.reply_stream.ReplyStream`: as the runner streams them, at every
cut into two chunks, and one character at a time, the result is the same."""

from __future__ import annotations

from typing import Any

import pytest

from builder.templates.parsers import OutputParser, parser_for_template, parser_named
from builder.templates.reply_stream import ReplyPart, ReplyStream
from builder.templates.tool_calls import ToolCallParser, parser_for_format
from tests.conftest import FIXTURES, load_fixture_json

STREAMS = sorted(path.stem for path in (FIXTURES / "thinking").glob("*.json"))


def load(name: str) -> dict[str, Any]:
    case: dict[str, Any] = load_fixture_json("thinking", f"{name}.json")
    return case


def output_parser(case: dict[str, Any]) -> OutputParser:
    if case["parser"] == "template":
        return parser_for_template(None, case["template"])
    return parser_named(case["parser"])


def tool_parser(case: dict[str, Any]) -> ToolCallParser | None:
    tools = case["tools"]
    return parser_for_format(tools) if tools not in (None, "harmony") else None


def read(case: dict[str, Any], chunks: list[str]) -> tuple[str, str, list[Any]]:
    """The reply of ``case`` fed as ``chunks``: reasoning, text and calls, joined."""
    stream = ReplyStream(
        output_parser(case),
        think=case["think"] is not False,
        prompt=case["prompt_end"],
        tools=tool_parser(case),
    )
    parts = [stream.feed(chunk) for chunk in chunks] + [stream.finish()]
    return joined(parts)


def joined(parts: list[ReplyPart]) -> tuple[str, str, list[Any]]:
    thinking = "".join(part.thinking for part in parts)
    content = "".join(part.content for part in parts)
    calls = [[call.name, call.arguments] for part in parts for call in part.tool_calls]
    return thinking, content, calls


def expected(case: dict[str, Any]) -> tuple[str, str, list[Any]]:
    expect = case["expect"]
    return expect["thinking"], expect["content"], expect["tool_calls"]


def test_every_recorded_stream_is_tested() -> None:
    assert len(STREAMS) >= 9


@pytest.mark.parametrize("name", STREAMS)
def test_a_reply_streamed_token_by_token(name: str) -> None:
    case = load(name)
    assert read(case, case["pieces"]) == expected(case)


@pytest.mark.parametrize("name", STREAMS)
def test_a_reply_cut_anywhere_reads_the_same(name: str) -> None:
    case = load(name)
    text = "".join(case["pieces"])
    for cut in range(len(text) + 1):
        assert read(case, [text[:cut], text[cut:]]) == expected(case), f"cut at {cut}"


@pytest.mark.parametrize("name", STREAMS)
def test_a_reply_one_character_at_a_time(name: str) -> None:
    case = load(name)
    assert read(case, list("".join(case["pieces"]))) == expected(case)


@pytest.mark.parametrize("name", STREAMS)
def test_no_markup_is_ever_shown(name: str) -> None:
    """What is shown as it streams holds no tag: a piece of one is held back until the
    next chunk tells what it is."""
    case = load(name)
    stream = ReplyStream(
        output_parser(case), think=True, prompt=case["prompt_end"], tools=tool_parser(case)
    )
    shown = [stream.feed(piece) for piece in case["pieces"]]
    for part in shown:
        for markup in ("<think", "</think", "<|", "[THINK", "[/THINK", "<tool_call"):
            assert markup not in part.thinking and markup not in part.content


def test_thoughts_stream_as_they_come() -> None:
    """The reasoning is shown while the model is still thinking, not all at the end."""
    case = load("qwen3_hybrid_thinking")
    stream = ReplyStream(output_parser(case), think=True, prompt=case["prompt_end"])
    close = case["pieces"].index("</think>")
    before = [stream.feed(piece).thinking for piece in case["pieces"][:close]]
    assert "".join(before).startswith("Okay, the user is asking")
    assert sum(1 for thought in before if thought) > 10
