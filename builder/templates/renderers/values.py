"""Messages, tools and ``think`` as Ollama's renderers see them, and Go's JSON.

Ollama's renderers (``model/renderers``) work on Go values: ``api.Message`` and
``api.Tool`` structs decoded from the request's JSON. What a renderer writes depends on
that decoding, so it is reproduced here: unknown keys are dropped, struct fields are
written in declaration order (``omitempty`` ones left out when empty), a property's
``type`` is a string when it is one type, tool properties and tool-call arguments keep
the order the request gave them (Ollama holds them in ordered maps) while any other
object (a nested argument, ``items``, ``$defs``) is a Go map, marshalled with its keys
sorted. :func:`go_json` then writes a value as Go's ``encoding/json.Marshal`` does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


class Struct(dict[str, Any]):
    """A Go struct or ordered map: marshalled in insertion order (a plain ``dict`` is a
    Go map, marshalled with sorted keys)."""


@dataclass(frozen=True)
class ToolCall:
    """One ``api.ToolCall``: the function's name and its arguments in order."""

    name: str
    arguments: Struct
    id: str = ""


@dataclass(frozen=True)
class Message:
    """One ``api.Message`` with the fields renderers read."""

    role: str
    content: str = ""
    thinking: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_name: str = ""
    tool_call_id: str = ""


def messages_of(messages: Sequence[Mapping[str, Any]]) -> list[Message]:
    """Chat messages (Ollama's or OpenAI's JSON) as ``api.Message`` values."""
    return [_message(message) for message in messages]


def _message(raw: Mapping[str, Any]) -> Message:
    thinking = raw.get("thinking") or raw.get("reasoning_content") or ""
    return Message(
        role=str(raw.get("role") or ""),
        content=_text(raw.get("content")),
        thinking=thinking if isinstance(thinking, str) else "",
        tool_calls=tuple(_tool_call(call) for call in raw.get("tool_calls") or ()),
        tool_name=str(raw.get("tool_name") or ""),
        tool_call_id=str(raw.get("tool_call_id") or ""),
    )


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):  # OpenAI's content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return ""


def _tool_call(raw: Any) -> ToolCall:
    function = raw.get("function") if isinstance(raw, Mapping) else None
    function = function if isinstance(function, Mapping) else {}
    arguments = function.get("arguments")
    if isinstance(arguments, str):  # OpenAI sends them as a JSON text
        try:
            arguments = json.loads(arguments)
        except ValueError:
            arguments = {}
    ordered = Struct(arguments) if isinstance(arguments, Mapping) else Struct()
    return ToolCall(str(function.get("name") or ""), ordered, str(raw.get("id") or ""))


# -- tools, shaped as api.Tool ---------------------------------------------------


def tools_of(tools: Sequence[Mapping[str, Any]] | None) -> list[Struct]:
    """Tools as ``api.Tool`` values (fields in Go's order, unknown keys dropped)."""
    return [_tool(tool) for tool in tools or ()]


def _tool(raw: Mapping[str, Any]) -> Struct:
    function = raw.get("function")
    function = function if isinstance(function, Mapping) else {}
    tool = Struct(type=raw.get("type") or "")
    _put(tool, "items", raw.get("items"))
    parameters = function.get("parameters")
    tool["function"] = Struct(name=function.get("name") or "")
    _put(tool["function"], "description", function.get("description") or "")
    tool["function"]["parameters"] = _parameters(
        parameters if isinstance(parameters, Mapping) else {}
    )
    return tool


def _parameters(raw: Mapping[str, Any]) -> Struct:
    parameters = Struct(type=raw.get("type") or "")
    _put(parameters, "$defs", raw.get("$defs"))
    _put(parameters, "items", raw.get("items"))
    _put(parameters, "required", raw.get("required"))
    properties = raw.get("properties")
    parameters["properties"] = _properties(properties) if properties is not None else None
    return parameters


def _properties(raw: Any) -> Struct:
    items = raw.items() if isinstance(raw, Mapping) else ()
    return Struct((name, _property(value)) for name, value in items)


def _property(raw: Any) -> Struct:
    """An ``api.ToolProperty``."""
    raw = raw if isinstance(raw, Mapping) else {}
    prop = Struct()
    any_of = raw.get("anyOf")
    _put(prop, "anyOf", [_property(item) for item in any_of] if any_of else None)
    _put(prop, "type", property_types(raw.get("type")))
    _put(prop, "items", raw.get("items"))
    _put(prop, "description", raw.get("description") or "")
    _put(prop, "enum", raw.get("enum"))
    nested = raw.get("properties")
    _put(prop, "properties", _properties(nested) if nested is not None else None)
    _put(prop, "required", raw.get("required"))
    return prop


class TypeList(list[str]):
    """An ``api.PropertyType``: marshalled as a string when it holds one name."""


def property_types(raw: Any) -> TypeList:
    """``api.PropertyType`` of a JSON ``type``: one type name or a list of them."""
    if isinstance(raw, str):
        return TypeList([raw])
    if isinstance(raw, list):
        return TypeList(str(item) for item in raw)
    return TypeList()


def as_map(value: Any) -> Any:
    """``value`` after a round trip through ``map[string]any``, as Ollama's renderers
    sometimes take one: every object's keys sorted, one-name types as strings."""
    if isinstance(value, TypeList):
        return value[0] if len(value) == 1 else list(value)
    if isinstance(value, dict):
        return {key: as_map(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [as_map(item) for item in value]
    return value


def _put(target: Struct, key: str, value: Any) -> None:
    """Set ``key`` unless ``value`` is empty (Go's ``omitempty``)."""
    if value is not None and value != "" and value != [] and value != {}:
        target[key] = value


# -- Go's encoding/json and fmt --------------------------------------------------


def go_json(value: Any, *, indent: str | None = None, escape_html: bool = True) -> str:
    """``json.Marshal`` of ``value`` (``MarshalIndent(value, "", indent)`` with
    ``indent``; ``escape_html=False`` as an ``Encoder`` with ``SetEscapeHTML(false)``)."""
    text = _encode(value, indent, 0)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if escape_html:
        for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
            text = text.replace(char, escape)
    return text


def _encode(value: Any, indent: str | None, level: int) -> str:
    if isinstance(value, TypeList) and len(value) == 1:
        return _encode(value[0], indent, level)
    if isinstance(value, Mapping):
        keys = list(value) if isinstance(value, Struct) else sorted(value, key=str)
        space = " " if indent is not None else ""
        parts = [
            f"{_encode(str(key), None, 0)}:{space}{_encode(value[key], indent, level + 1)}"
            for key in keys
        ]
        return _joined("{", parts, "}", indent, level)
    if isinstance(value, list | tuple):
        return _joined(
            "[", [_encode(item, indent, level + 1) for item in value], "]", indent, level
        )
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return _float_text(float(value), low=-6, high=21, json_exponent=True)
    return json.dumps(str(value), ensure_ascii=False)


def _joined(start: str, parts: list[str], end: str, indent: str | None, level: int) -> str:
    if not parts:
        return start + end
    if indent is None:
        return start + ",".join(parts) + end
    inner, outer = "\n" + indent * (level + 1), "\n" + indent * level
    return start + inner + ("," + inner).join(parts) + outer + end


def go_sprint(value: Any) -> str:
    """``fmt.Sprintf("%v", value)`` of a value decoded from JSON."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _float_text(float(value), low=-4, high=6, json_exponent=False)
    if isinstance(value, Mapping):
        inner = " ".join(f"{key}:{go_sprint(value[key])}" for key in sorted(value))
        return f"map[{inner}]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_sprint(item) for item in value) + "]"
    return str(value)


def _float_text(number: float, *, low: int, high: int, json_exponent: bool) -> str:
    """A float64 in Go's shortest digits (those of Python's ``repr``), in exponent form
    when its decimal exponent is below ``low`` or from ``high``: ``%v`` uses -4 and 6,
    ``encoding/json`` -6 and 21 (and writes ``1e-7`` where ``%v`` writes ``1e-07``)."""
    if number == 0:
        return "0"
    digits_tuple, exponent = Decimal(repr(abs(number))).normalize().as_tuple()[1:]
    digits = "".join(map(str, digits_tuple))
    power = len(digits) - 1 + int(exponent)
    sign = "-" if number < 0 else ""
    if power < low or power >= high:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        shown = str(-power) if json_exponent and power < 0 else f"{abs(power):02d}"
        return f"{sign}{mantissa}e{'+' if power >= 0 else '-'}{shown}"
    if power >= 0:
        whole, fraction = digits[: power + 1].ljust(power + 1, "0"), digits[power + 1 :]
    else:
        whole, fraction = "0", "0" * (-power - 1) + digits
    return sign + whole + ("." + fraction if fraction else "")


def with_spaces(compact: str) -> str:
    """Ollama's ``addJSONSpaces``: a space after every ``:`` and ``,`` outside strings."""
    out: list[str] = []
    in_string = escaped = False
    for char in compact:
        out.append(char)
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in ":,":
            out.append(" ")
    return "".join(out)


def argument_text(value: Any) -> str:
    """Ollama's ``formatToolCallArgument``: strings as they are, objects and lists as
    JSON, other scalars as Go prints them."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping | list | tuple):
        return go_json(value)
    return go_sprint(value)
