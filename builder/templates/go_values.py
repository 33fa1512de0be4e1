"""The data a converted Ollama template sees, shaped the way Go would see it.

Ollama executes its templates on Go values: ``api.Message`` structs with fields ``Role``,
``Content``, ``ToolCalls``…, ``api.Tool`` structs, maps of arguments. This module turns
chat messages and tools (Ollama / OpenAI JSON form) into :class:`GoStruct` and
:class:`GoMap` values that answer the same field names, print like Go's ``fmt`` and
marshal like Go's ``encoding/json`` (struct fields in declaration order with
``omitempty``, map keys sorted). It also builds the two shapes of input Ollama has
(``template/template.go``, ``Execute``): the root of the ``.Messages`` mode and the
list of ``(System, Prompt, Response)`` turns of the legacy mode.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from jinja2 import Undefined

from builder.templates.thinking import Think, think_level, thinks

# Go struct -> its fields in declaration order: (Go name, JSON key, omitempty, child type).
_SCHEMAS: dict[str, tuple[tuple[str, str, bool, str | None], ...]] = {
    "Message": (
        ("Role", "role", False, None),
        ("Content", "content", False, None),
        ("Thinking", "thinking", True, None),
        ("Images", "images", True, None),
        ("ToolCalls", "tool_calls", True, "[]ToolCall"),
        ("ToolName", "tool_name", True, None),
        ("ToolCallID", "tool_call_id", True, None),
    ),
    "ToolCall": (("ID", "id", True, None), ("Function", "function", False, "ToolCallFunction")),
    "ToolCallFunction": (
        ("Index", "index", True, None),
        ("Name", "name", False, None),
        ("Arguments", "arguments", False, "map"),
    ),
    "Tool": (
        ("Type", "type", False, None),
        ("Items", "items", True, None),
        ("Function", "function", False, "ToolFunction"),
    ),
    "ToolFunction": (
        ("Name", "name", False, None),
        ("Description", "description", True, None),
        ("Parameters", "parameters", False, "ToolFunctionParameters"),
    ),
    "ToolFunctionParameters": (
        ("Type", "type", False, None),
        ("Defs", "$defs", True, None),
        ("Items", "items", True, None),
        ("Required", "required", True, None),
        ("Properties", "properties", False, "map:ToolProperty"),
    ),
    "ToolProperty": (
        ("Type", "type", True, None),
        ("Items", "items", True, None),
        ("Description", "description", True, None),
        ("Enum", "enum", True, None),
    ),
}


class GoStruct(Mapping[str, Any]):
    """A Go struct value: fields by Go name, printed and marshalled as Go would."""

    def __init__(self, type_name: str, fields: dict[str, Any]) -> None:
        self.type_name = type_name
        self.fields = fields

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __bool__(self) -> bool:  # a struct is never "empty" to Go's truth test
        return True

    def __str__(self) -> str:  # Ollama's api types print themselves as JSON
        return go_json(self)


class GoMap(dict[str, Any]):
    """A Go map; Ollama's argument maps print themselves as JSON."""

    def __str__(self) -> str:
        return go_json(self)


def shape(type_name: str | None, value: Any) -> Any:
    """``value`` (JSON-like) as the Go type ``type_name`` (``None``: leave it as it is)."""
    if type_name is None:
        return GoMap(value) if isinstance(value, Mapping) else value
    if type_name.startswith("[]"):
        return [shape(type_name[2:], item) for item in value or []]
    if type_name.startswith("map"):
        element = type_name[4:] or None
        if isinstance(value, str):
            value = _json_object(value)
        return GoMap({key: shape(element, item) for key, item in (value or {}).items()})
    raw = value if isinstance(value, Mapping) else {}
    fields = {
        go_name: shape(child, raw[key]) if raw.get(key) is not None else _zero(child)
        for go_name, key, _, child in _SCHEMAS[type_name]
    }
    return GoStruct(type_name, fields)


def _zero(type_name: str | None) -> Any:
    """Go's zero value of a field that the JSON left out."""
    if type_name is None:
        return ""
    if type_name.startswith("[]"):
        return []
    if type_name.startswith("map"):
        return GoMap()
    return shape(type_name, {})


def _json_object(text: str) -> Any:
    """OpenAI sends tool-call arguments as a JSON string; Ollama holds them as a map."""
    try:
        return json.loads(text)
    except ValueError:
        return {}


def message_content(message: Mapping[str, Any]) -> str:
    """The text of a message; OpenAI-style content parts are joined."""
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, Mapping))


def _as_go_message(message: Mapping[str, Any]) -> GoStruct:
    raw = {**message, "content": message_content(message)}
    # OpenAI-style clients send the reasoning as ``reasoning_content`` (or, through
    # Ollama's OpenAI layer, ``reasoning``): both are Ollama's ``thinking``.
    for key in ("reasoning_content", "reasoning"):
        if not raw.get("thinking") and isinstance(raw.get(key), str) and raw[key]:
            raw["thinking"] = raw[key]
    return shape("Message", raw)  # type: ignore[no-any-return]


def collate(messages: Sequence[Mapping[str, Any]]) -> tuple[str, list[GoStruct]]:
    """Ollama's ``collate``: all system contents joined by a blank line, and the messages
    with consecutive ones of the same role (tool results excepted) merged."""
    system: list[str] = []
    collated: list[GoStruct] = []
    for message in map(_as_go_message, messages):
        role = message["Role"]
        if role == "system":
            system.append(message["Content"])
        if collated and collated[-1]["Role"] == role and role != "tool":
            previous = collated[-1]
            merged = f"{previous['Content']}\n\n{message['Content']}"
            collated[-1] = GoStruct("Message", {**previous.fields, "Content": merged})
        else:
            collated.append(message)
    return "\n\n".join(system), collated


def messages_root(
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None,
    think: Think,
) -> GoMap:
    """The data of Ollama's ``.Messages`` mode."""
    system, collated = collate(messages)
    return GoMap(
        System=system,
        Messages=collated,
        Tools=shape("[]Tool", tools or []),
        Response="",
        **think_values(think),
        Query="",
        Document="",
        Instruction="",
    )


def think_values(think: Think) -> dict[str, Any]:
    """Ollama's ``.Think``, ``.ThinkLevel`` and ``.IsThinkSet`` (``server/routes.go``:
    ``ThinkLevel`` is ``ThinkValue.String()``, so ``true`` reads ``medium``)."""
    return {
        "Think": thinks(think),
        "ThinkLevel": think_level(think),
        "IsThinkSet": think is not None,
    }


def legacy_turns(messages: Sequence[Mapping[str, Any]], think: Think) -> list[GoMap]:
    """The data of each execution of a legacy (``.System``/``.Prompt``/``.Response``)
    template: one per completed turn, then the last one, whose render Ollama cuts after
    ``{{ .Response }}``."""
    turns: list[GoMap] = []
    current = {"System": "", "Prompt": "", "Response": ""}
    for message in collate(messages)[1]:
        role, content = message["Role"], message["Content"]
        starts_turn = {
            "system": current["Prompt"] or current["Response"],
            "user": current["Response"],
        }
        if starts_turn.get(role):
            turns.append(_turn(current, think))
            current = {"System": "", "Prompt": "", "Response": ""}
        slot = {"system": "System", "user": "Prompt", "assistant": "Response"}.get(role)
        if slot is not None:
            current[slot] = content
    turns.append(_turn(current, think))
    return turns


def _turn(current: Mapping[str, str], think: Think) -> GoMap:
    return GoMap(current, **think_values(think))


def go_json(value: Any) -> str:
    """``encoding/json.Marshal``: compact, map keys sorted, ``<``, ``>``, ``&`` escaped."""
    text = json.dumps(_marshalable(value), ensure_ascii=False, separators=(",", ":"))
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _marshalable(value: Any) -> Any:
    if isinstance(value, GoStruct):
        return {
            key: _marshalable(value[name])
            for name, key, omitempty, _ in _SCHEMAS[value.type_name]
            if not (omitempty and _is_empty(value[name]))
        }
    if isinstance(value, Mapping):
        return {str(key): _marshalable(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_marshalable(item) for item in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, Undefined):
        return None
    return value


def _is_empty(value: Any) -> bool:
    if isinstance(value, GoStruct):
        return False
    return value is None or value is False or value == 0 or value == "" or value in ([], {})
