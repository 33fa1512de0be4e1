"""Conversation and tools files, as ``ladle render`` reads them."""

from __future__ import annotations

import pytest

from builder.templates.conversation import check_messages, parse_conversation, parse_tools
from ladle.errors import ConversationError

HELLO = {"role": "user", "content": "Hello!"}


def test_a_list_or_an_object_with_messages() -> None:
    assert parse_conversation('[{"role": "user", "content": "Hello!"}]', "c.json") == [HELLO]
    text = '{"model": "x", "messages": [{"role": "user", "content": "Hello!"}]}'
    assert parse_conversation(text, "c.json") == [HELLO]


def test_other_keys_pass_through_and_missing_content_is_empty() -> None:
    calls = [{"function": {"name": "df", "arguments": {}}}]
    message = {"role": "assistant", "content": None, "tool_calls": calls}
    assert check_messages([message], "m") == [{**message, "content": ""}]
    assert check_messages([{"role": "assistant"}], "m") == [{"role": "assistant", "content": ""}]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[{", "c.json: not JSON (line 1, column 3: "),
        ('{"turns": []}', "expected a JSON list of messages, or an object with a 'messages' list"),
        ('["hi"]', "message 1 is a string, not an object"),
        ('[{"role": "user", "content": "a"}, {"content": "b"}]', "message 2 has no role"),
        ('[{"role": "user", "content": ["a"]}]', "message 1 (user): content is a list"),
    ],
)
def test_what_is_wrong_is_said(text: str, reason: str) -> None:
    with pytest.raises(ConversationError, match=r"^c\.json: ") as caught:
        parse_conversation(text, "c.json")
    assert reason.removeprefix("c.json: ") in caught.value.reason


def test_tools() -> None:
    tool = {"type": "function", "function": {"name": "df"}}
    assert parse_tools('[{"type": "function", "function": {"name": "df"}}]', "t") == [tool]
    assert parse_tools('{"tools": [{"type": "function", "function": {"name": "df"}}]}', "t") == [
        tool
    ]
    with pytest.raises(ConversationError, match="tool 1 is a number, not an object"):
        parse_tools("[1]", "t")
