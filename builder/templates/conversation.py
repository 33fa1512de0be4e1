"""Conversation and tools files: what ``ladle render --messages`` reads (and the TUI's
``/save-chat`` writes).

A conversation file is JSON: a list of messages, or an object whose ``messages`` key
holds that list. A message is an object with a string ``role`` (``system``, ``user``,
``assistant``, ``tool``, or whatever the template knows) and a string ``content``
(missing or ``null`` reads as ``""``, as for an assistant turn that only calls tools);
other keys (``tool_calls``, ``thinking``, ``images``…) go to the template unchanged, as
Ollama's and OpenAI's chat APIs pass them.

A tools file is JSON: a list of tool objects (OpenAI's ``{"type": "function",
"function": {...}}``), or an object whose ``tools`` key holds that list.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ladle.errors import ConversationError

Message = dict[str, Any]

#: The conversation rendered when none is given.
DEFAULT_CONVERSATION: tuple[Message, ...] = ({"role": "user", "content": "Hello!"},)


def parse_conversation(text: str, origin: str) -> list[Message]:
    """The messages of a conversation file's ``text``; ``origin`` names the file in errors."""
    return check_messages(_list_in(_json(text, origin), "messages", origin), origin)


def parse_tools(text: str, origin: str) -> list[dict[str, Any]]:
    """The tools of a tools file's ``text``."""
    tools = _list_in(_json(text, origin), "tools", origin)
    for number, tool in enumerate(tools, 1):
        if not isinstance(tool, dict):
            raise ConversationError(origin, f"tool {number} is {_kind(tool)}, not an object")
    return tools


def check_messages(messages: Sequence[Mapping[str, Any]], origin: str) -> list[Message]:
    """``messages`` as plain dicts with a string role and content, or ConversationError."""
    checked = []
    for number, message in enumerate(messages, 1):
        if not isinstance(message, Mapping):
            raise ConversationError(origin, f"message {number} is {_kind(message)}, not an object")
        role, content = message.get("role"), message.get("content")
        if not isinstance(role, str) or not role:
            raise ConversationError(origin, f"message {number} has no role")
        if content is not None and not isinstance(content, str):
            raise ConversationError(
                origin, f"message {number} ({role}): content is {_kind(content)}, not a string"
            )
        checked.append({**message, "content": content or ""})
    return checked


def _json(text: str, origin: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise ConversationError(origin, f"not JSON ({where}: {error.msg})") from None


def _list_in(value: Any, key: str, origin: str) -> list[Any]:
    if isinstance(value, dict) and key in value:
        value = value[key]
    if not isinstance(value, list):
        raise ConversationError(
            origin, f"expected a JSON list of {key}, or an object with a {key!r} list"
        )
    return value


def _kind(value: Any) -> str:
    return {
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "a boolean",
        list: "a list",
        dict: "an object",
    }.get(type(value), "null" if value is None else type(value).__name__)
