"""Tool calls written as XML-like markup, read back with their arguments typed.

Two families of models write a call's arguments as text between tags rather than as
JSON, and say nothing of their types:

===========  =====================================================================
format       what the model writes
===========  =====================================================================
qwen3-coder  ``<tool_call><function=name><parameter=key>value</parameter>…</function>
             </tool_call>`` (Qwen3-Coder, Qwen3.5, Nemotron 3)
glm          ``<tool_call>name<arg_key>key</arg_key><arg_value>value</arg_value>…
             </tool_call>`` (GLM-4.5 to 4.7, GLM-OCR, Laguna)
===========  =====================================================================

A value is typed by the request's tool schema, as Ollama's parsers type it
(``parseTypedToolValue`` in ``model/parsers/qwen3coder.go``): ``null`` is null
whatever the type; then boolean, integer, number, array, object in that order of
preference, each taken only if the text reads as one; otherwise the text. One leading and
one trailing newline are not part of a value. A call of a tool the request did not
declare keeps its values as text. Markup that does not read as a call stays in the
content (the base class's rules, :class:`~builder.templates.tool_calls.ToolCallParser`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from builder.templates.tool_calls import (
    CallLayout,
    ToolCall,
    ToolCallParser,
    enclosed,
)

TypesByTool = Mapping[str, Mapping[str, tuple[str, ...]]]
"""Each tool's parameters' JSON types (a union's every type), by tool and parameter name."""

_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def parameter_types(
    tools: Sequence[Mapping[str, Any]] | None,
) -> dict[str, dict[str, tuple[str, ...]]]:
    """The parameter types of a request's ``tools`` (Ollama's or OpenAI's JSON)."""
    found: dict[str, dict[str, tuple[str, ...]]] = {}
    for tool in tools or ():
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            continue
        parameters = function.get("parameters")
        properties = parameters.get("properties") if isinstance(parameters, Mapping) else None
        items = properties.items() if isinstance(properties, Mapping) else ()
        found.setdefault(function["name"], {name: _types(prop) for name, prop in items})
    return found


def _types(prop: Any) -> tuple[str, ...]:
    if not isinstance(prop, Mapping):
        return ()
    branches = prop.get("anyOf")
    if isinstance(branches, list) and branches:
        return tuple(name for branch in branches for name in _types(branch))
    kind = prop.get("type")
    if isinstance(kind, str):
        return (kind,)
    return tuple(name for name in kind if isinstance(name, str)) if isinstance(kind, list) else ()


def typed_value(raw: str, types: tuple[str, ...]) -> Any:
    """``raw`` (one leading and trailing newline taken off) as the first of ``types``
    it reads as (see the module docstring)."""
    raw = raw.removeprefix("\n").removesuffix("\n")
    if raw.lower() == "null":
        return None
    only = len(types) == 1
    if "boolean" in types:
        if raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        if only:
            return False  # as Qwen's reference parser: an unreadable boolean is false
    if "integer" in types and _INTEGER.fullmatch(raw):
        return int(raw)
    if "number" in types and _NUMBER.fullmatch(raw):
        number = float(raw)
        return int(number) if number.is_integer() else number
    for kind, shape in (("array", list), ("object", dict)):
        if kind in types:
            try:
                value = json.loads(raw)
            except (ValueError, RecursionError):  # nested past the decoder's depth too
                continue
            if isinstance(value, shape):
                return value
    return raw


class TypedCallParser(ToolCallParser):
    """A format whose values are typed by the request's tools (:meth:`for_tools`)."""

    marker = "<tool_call>"
    closing: ClassVar[str] = "</tool_call>"
    tokens: ClassVar[tuple[str, ...]] = ("<tool_call>", "</tool_call>")
    """The markup the parser reads, which a runner must show (control tokens to some)."""

    def __init__(self, types: TypesByTool | None = None) -> None:
        self.types: TypesByTool = types or {}

    def for_tools(self, tools: Sequence[Mapping[str, Any]] | None) -> TypedCallParser:
        """This format, its values typed by ``tools``'s schemas."""
        return type(self)(parameter_types(tools))

    def _read(self, text: str, start: int) -> tuple[list[ToolCall], int] | None:
        body = start + len(self.marker)
        body_end, end = enclosed(text, body, self.closing)
        call = self._call(text[body:body_end])
        return None if call is None else ([call], end)

    def _call(self, body: str) -> ToolCall | None:
        raise NotImplementedError

    def _typed(self, tool: str, pairs: list[tuple[str, str]]) -> ToolCall:
        types = self.types.get(tool, {})
        arguments = {key: typed_value(value, types.get(key, ())) for key, value in pairs}
        return ToolCall(name=tool, arguments=arguments)


class Qwen3CoderParser(TypedCallParser):
    """``<tool_call><function=name><parameter=key>value</parameter></function></tool_call>``."""

    format = "qwen3-coder"
    # A forced call is written in Hermes's JSON, which _call reads as well: a grammar
    # cannot make a JSON schema of the XML form.
    layout = CallLayout(before="<tool_call>\n", after="\n</tool_call>", separator="\n")
    _FUNCTION = re.compile(r"\s*<function=([^>\n]+)>")
    _PARAMETER = re.compile(r"<parameter=([^>\n]+)>")
    _VALUE_END = re.compile(r"</parameter>|<parameter=|</function>")

    def _call(self, body: str) -> ToolCall | None:
        function = self._FUNCTION.match(body)
        if function is None:
            return json_call(body)
        pairs, position = [], function.end()
        while (parameter := self._PARAMETER.search(body, position)) is not None:
            end = self._VALUE_END.search(body, parameter.end())
            value_end = end.start() if end else len(body)
            pairs.append((parameter.group(1).strip(), body[parameter.end() : value_end]))
            closed = end is not None and end.group() == "</parameter>"
            position = end.end() if closed and end else value_end
        return self._typed(function.group(1).strip(), pairs)


class GlmParser(TypedCallParser):
    """``<tool_call>name<arg_key>key</arg_key><arg_value>value</arg_value></tool_call>``."""

    format = "glm"
    layout = Qwen3CoderParser.layout
    tokens = (*TypedCallParser.tokens, "<arg_key>", "</arg_key>", "<arg_value>", "</arg_value>")
    _PAIR = re.compile(r"<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)</arg_value>", re.DOTALL)

    def _call(self, body: str) -> ToolCall | None:
        name_end = body.find("<arg_key>")
        name = (body if name_end < 0 else body[:name_end]).strip()
        if name.startswith("{"):
            return json_call(body)
        rest = "" if name_end < 0 else body[name_end:]
        pairs = [(key.strip(), value) for key, value in self._PAIR.findall(rest)]
        # Every key needs its value, and nothing but pairs may follow the name.
        if not name or "<" in name or self._PAIR.sub("", rest).strip():
            return None
        return self._typed(name, pairs)


def json_call(body: str) -> ToolCall | None:
    """A JSON call object, ``{"name": …, "arguments": {…}}`` (what the grammar of a forced
    call writes in a format whose own form a JSON schema cannot describe), or ``None``."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return _call_object(value)


def _call_object(value: Any) -> ToolCall | None:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    arguments = value.get("arguments", {})
    return (
        ToolCall(name=value["name"], arguments=arguments) if isinstance(arguments, dict) else None
    )
