"""Glimmer's tool calls: the ATEM block of a call message, and the names of its tools.

A Glimmer model calls a tool in a message to that tool (``to=NAME``) whose body is one
block, as its chat template teaches (:mod:`builder.templates.renderers.glimmer`)::

    <atem:function_calls>
    <atem:invoke name="NAME">
    <atem:parameter name="KEY">VALUE</atem:parameter>
    </atem:invoke>
    </atem:function_calls>

Values are text, typed by the request's tool schema as the XML-like formats type theirs
(:func:`~builder.templates.tool_call_xml.typed_value`, but with no newline dropped: a
Glimmer value is everything between its tags). As Ollama reads it
(``model/parsers/glimmer.go``), a ``<|message|>`` the model slips into the invoke's name
(echoing its header, ``to=read<|message|>``) is no part of the name, and may stand for
the name's closing ``">``. The template advertises each tool under a namespace, the first
dot-separated part of its name, so a tool ``read`` may be addressed as ``read.read``.
"""

from __future__ import annotations

from collections.abc import Mapping

from builder.templates.tool_call_xml import TypesByTool, typed_value
from builder.templates.tool_calls import ToolCall

MESSAGE = "<|message|>"
CALLS_OPEN = "<atem:function_calls>"
CALLS_CLOSE = "</atem:function_calls>"
_INVOKE_OPEN = '<atem:invoke name="'
_INVOKE_CLOSE = "</atem:invoke>"
_PARAMETER_OPEN = '<atem:parameter name="'
_PARAMETER_CLOSE = "</atem:parameter>"
_NAME_END = '">'


def resolve_tool(tools: TypesByTool, name: str) -> str | None:
    """The declared tool ``name`` addresses: itself, or ``NS.TOOL`` for a tool ``TOOL``
    whose own namespace is ``NS``; ``None`` when it names no declared tool."""
    if name in tools:
        return name
    namespace, dot, function = name.partition(".")
    if dot and function in tools and function.partition(".")[0] == namespace:
        return function
    return None


def read_block(body: str, tools: TypesByTool) -> ToolCall | None:
    """The call that ``body`` (blanks around it aside) is, if it is nothing but an ATEM
    block that invokes a declared tool; else ``None``."""
    parts = _invocation(body.strip())
    if parts is None:
        return None
    name, parameters = parts
    tool = resolve_tool(tools, name)
    arguments = None if tool is None else _arguments(parameters, tools[tool])
    return None if tool is None or arguments is None else ToolCall(name=tool, arguments=arguments)


def _invocation(block: str) -> tuple[str, str] | None:
    """The invoked name and the parameters' markup of a whole ATEM ``block``."""
    if not (block.startswith(CALLS_OPEN) and block.endswith(CALLS_CLOSE)):
        return None
    invoke = block[len(CALLS_OPEN) : len(block) - len(CALLS_CLOSE)].strip()
    if not (invoke.startswith(_INVOKE_OPEN) and invoke.endswith(_INVOKE_CLOSE)):
        return None
    named = _invoked_name(invoke[len(_INVOKE_OPEN) :])
    if named is None or len(named[1]) < len(_INVOKE_CLOSE):
        return None
    name, rest = named
    return name, rest[: len(rest) - len(_INVOKE_CLOSE)]


def _invoked_name(text: str) -> tuple[str, str] | None:
    """The name that opens ``text`` and what follows its ``">``, any ``<|message|>``
    before that left out of the name (see the module docstring)."""
    name = ""
    while True:
        end, slip = text.find(_NAME_END), text.find(MESSAGE)
        if slip < 0 or 0 <= end < slip:
            break
        name, text = name + text[:slip], text[slip + len(MESSAGE) :]
        if text.startswith(_PARAMETER_OPEN):  # the token stood for the ``">``
            return name, text
    return None if end < 0 else (name + text[:end], text[end + len(_NAME_END) :])


def _arguments(markup: str, types: Mapping[str, tuple[str, ...]]) -> dict[str, object] | None:
    """The typed arguments of the parameters' ``markup``, or ``None`` if it holds anything
    else (one line break may follow each parameter, and the invoke's opening tag)."""
    markup = markup.removeprefix("\n").removesuffix("\n")
    arguments: dict[str, object] = {}
    while markup:
        if not markup.startswith(_PARAMETER_OPEN):
            return None
        key, named, rest = markup[len(_PARAMETER_OPEN) :].partition(_NAME_END)
        value, closed, markup = rest.partition(_PARAMETER_CLOSE)
        if not (named and closed):
            return None
        arguments[key] = _typed(value, types.get(key, ()))
        markup = markup.removeprefix("\n")
    return arguments


def _typed(value: str, types: tuple[str, ...]) -> object:
    """``value`` as its declared ``types`` read it. :func:`typed_value` drops one line
    break at either end, which a Glimmer value keeps: hand it one more on each side."""
    return typed_value(f"\n{value}\n", types)
