"""OpenAI's ``tool_choice`` and ``parallel_tool_calls`` on ``/v1/chat/completions``.

``tool_choice`` says whether the answer calls tools, as OpenAI defines it:

==============================================  =====================================
``"auto"`` (the default)                         the model chooses: text, calls or both
``"none"``                                       no call: the prompt is rendered without
                                                 the tools and the answer read for none
``"required"``                                   one or more calls, of any of the tools
``{"type": "function", "function": {"name"}}``   exactly one call, of that function
==============================================  =====================================

``"none"``: llama.cpp's server and vLLM keep the tools in the prompt and merely read no
calls, so a model that calls one anyway answers with the call's markup as its text.
ladle renders the prompt without them (what vLLM's
``--exclude-tools-when-tool-choice-none`` does), so that the answer is a message, not a
call.

A forced call (``"required"`` or a named function) is made by a grammar
(:meth:`ToolChoice.grammar`): the calls' text in the form the model's template family
writes them (:class:`builder.templates.tool_calls.CallLayout`, e.g.
``<tool_call>{"name": …, "arguments": …}</tool_call>`` for Hermes and Qwen), each call
object a JSON schema of its own (``name`` the function's, the arguments the function's
``parameters``), so the usual tool-call parser reads the answer into ``tool_calls``. A
forced call outranks ``response_format``, which shapes the content such an answer does
not have.

``parallel_tool_calls`` (default true) ``false`` allows one call per answer: a forced
answer's grammar admits exactly one, and under ``"auto"`` the calls after the first are
dropped (:meth:`ToolChoice.limited`).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from builder.templates.tool_calls import CallLayout, ToolCallParser
from ladle.errors import InvalidFieldError, InvalidRequestError
from runtime.api.service import Reply
from runtime.runner import grammar_for_format

Mode = Literal["auto", "none", "required", "function"]
FIELD = "tool_choice"
CHOICES = '"auto", "none", "required" or {"type": "function", "function": {"name": …}}'

_RULE = re.compile(r"^([a-zA-Z0-9-]+) ::= ", re.MULTILINE)
_GBNF_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|\[(?:\\.|[^\]\\])*\]|[a-zA-Z0-9-]+|.', re.DOTALL)
"""A GBNF rule body's pieces: literals and character classes whole, so that a rule name
is only ever matched where it is a reference."""


@dataclass(frozen=True)
class ToolChoice:
    """What a request's ``tool_choice`` and ``parallel_tool_calls`` ask of its answer."""

    mode: Mode = "auto"
    function: str | None = None
    """The forced function's name (mode ``function``)."""
    parallel: bool = True
    tools: tuple[dict[str, Any], ...] = ()
    """The request's function tools (those a forced call may call)."""

    @property
    def forces(self) -> bool:
        """Whether a call is forced (``"required"`` or a named function)."""
        return self.mode in ("required", "function")

    def prompt_tools(self, tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        """The tools the prompt shows: none for ``"none"``."""
        return None if self.mode == "none" else tools or None

    def grammar(self, parser: ToolCallParser) -> str | None:
        """GBNF that admits only the forced calls, written as ``parser`` reads them;
        ``None`` when no call is forced."""
        if not self.forces:
            return None
        called = self.tools
        if self.mode == "function":
            called = tuple(tool for tool in self.tools if _name(tool) == self.function)
        many = self.mode == "required" and self.parallel
        return calls_grammar(parser.layout, called, many=many)

    def limited(self, replies: AsyncGenerator[Reply, None]) -> AsyncGenerator[Reply, None]:
        """``replies``, with at most one tool call when parallel calls are off."""
        return replies if self.parallel else _first_call_only(replies)


def read_tool_choice(
    value: str | dict[str, Any] | None,
    tools: list[dict[str, Any]] | None,
    parallel_tool_calls: bool | None,
) -> ToolChoice:
    """The :class:`ToolChoice` of a request's fields; raises
    :class:`~ladle.errors.InvalidFieldError` naming ``tool_choice`` for a choice ladle
    cannot honour (an unknown form, a call forced without tools, an unknown function)."""
    functions = tuple(tool for tool in tools or () if _name(tool) is not None)
    parallel = True if parallel_tool_calls is None else parallel_tool_calls
    mode, name = _mode(value)
    if mode in ("required", "function") and not functions:
        raise InvalidFieldError(FIELD, f"{value!r} needs function tools in tools")
    if name is not None and name not in {_name(tool) for tool in functions}:
        known = ", ".join(repr(_name(tool)) for tool in functions)
        raise InvalidFieldError(FIELD, f"no function named {name!r} in tools (they are {known})")
    return ToolChoice(mode, name, parallel, functions)


def calls_grammar(layout: CallLayout, tools: Sequence[dict[str, Any]], *, many: bool) -> str:
    """GBNF for calls of ``tools`` written in ``layout``: exactly one call, or one or
    more when ``many``; each call's arguments valid against its function's
    ``parameters``."""
    objects = [_call_schema(layout, tool) for tool in tools]
    schema = objects[0] if len(objects) == 1 else {"anyOf": objects}
    try:
        rules = grammar_for_format(schema)
    except InvalidRequestError as error:  # a function's parameters cannot be a grammar
        raise InvalidFieldError("tools", error.reason) from None
    taken = set(_RULE.findall(rules))
    call, call_object = _free_name("tool-call", taken), _free_name("tool-call-object", taken)
    calls = _sequence(call, f"({_sequence(_literal(layout.separator), call)})*") if many else call
    return "\n".join(
        (
            f"root ::= {_sequence(_literal(layout.opening), calls, _literal(layout.closing))}",
            f"{call} ::= {_sequence(_literal(layout.before), call_object, _literal(layout.after))}",
            _renamed(rules, "root", call_object),
        )
    )


def _mode(value: str | dict[str, Any] | None) -> tuple[Mode, str | None]:
    """The mode and forced function's name of a ``tool_choice`` value."""
    if value is None or value == "auto":
        return "auto", None
    if value in ("none", "required"):
        return ("none" if value == "none" else "required"), None
    if isinstance(value, dict) and value.get("type") == "function":
        function = value.get("function")
        # Chat Completions nests the name; the Responses API's form has it at the top.
        name = function.get("name") if isinstance(function, dict) else value.get("name")
        if isinstance(name, str) and name:
            return "function", name
    raise InvalidFieldError(FIELD, f"must be {CHOICES}, not {json.dumps(value)}")


def _name(tool: dict[str, Any]) -> str | None:
    """The name of a function tool, ``None`` for any other."""
    function = tool.get("function") if isinstance(tool, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    return name if isinstance(name, str) and name else None


def _call_schema(layout: CallLayout, tool: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of one call object of ``tool``'s function in ``layout``."""
    function = tool["function"]
    # OpenAI: "Omitting parameters defines a function with an empty parameter list."
    parameters = function.get("parameters") or {"type": "object", "properties": {}}
    if not isinstance(parameters, dict):
        raise InvalidFieldError("tools", f"{_name(tool)!r}: parameters must be a JSON schema")
    key = layout.arguments_key
    return {
        "type": "object",
        "properties": {"name": {"const": function["name"]}, key: parameters},
        "required": ["name", key],
        "additionalProperties": False,
    }


def _literal(text: str) -> str:
    """``text`` as a GBNF literal (its JSON string escapes are GBNF's), "" for none."""
    return json.dumps(text, ensure_ascii=False) if text else ""


def _sequence(*items: str) -> str:
    """GBNF items one after the other, the empty ones left out."""
    return " ".join(item for item in items if item)


def _free_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name`` and a number, whichever no rule of ``taken`` has."""
    number = 0
    chosen = name
    while chosen in taken:
        number += 1
        chosen = f"{name}{number}"
    return chosen


def _renamed(rules: str, old: str, new: str) -> str:
    """GBNF ``rules`` with the rule ``old`` named ``new``, where defined and referenced."""
    lines = []
    for line in rules.splitlines():
        name, separator, body = line.partition(" ::= ")
        pieces = (new if piece == old else piece for piece in _GBNF_TOKEN.findall(body))
        lines.append(f"{new if name == old else name}{separator}{''.join(pieces)}")
    return "\n".join(lines)


async def _first_call_only(replies: AsyncGenerator[Reply, None]) -> AsyncGenerator[Reply, None]:
    """``replies`` with the tool calls after the first one left out."""
    called = False
    try:
        async for reply in replies:
            if reply.tool_calls:
                reply = replace(reply, tool_calls=() if called else reply.tool_calls[:1])
                called = True
                if not reply.text and not reply.tool_calls:
                    continue
            yield reply
    finally:
        await replies.aclose()
