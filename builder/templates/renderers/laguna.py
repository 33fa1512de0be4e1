"""Poolside's Laguna renderers: ``laguna`` and ``poolside-v1`` (Ollama's ``laguna.go``,
``LagunaRenderer`` and ``LagunaV8Renderer``).

Turns are XML-like (``<system>``, ``<user>``, ``<assistant>``, ``<tool_response>``)
after the ``〈|EOS|〉`` BOS text; tools are listed as JSON in ``<available_tools>`` and
calls written as ``<tool_call>name<arg_key>k</arg_key><arg_value>v</arg_value>``. Both
think only when asked: the answer's opening ``<think>`` or ``</think>`` says which.
``laguna`` puts a newline after every tag and keeps earlier reasoning; ``poolside-v1``
writes no newlines inside a turn and replays reasoning only while thinking.
"""

from __future__ import annotations

from typing import Any

from builder.templates.renderers.values import Message, Struct, go_json, with_spaces
from builder.templates.thinking import Think, thinks

BOS = "〈|EOS|〉"
DEFAULT_SYSTEM = (
    "You are a helpful, conversationally-fluent assistant made by Poolside. You are here to "
    "be helpful to users through natural language conversations."
)
_TOOLS = (
    "### Tools\n\nYou may call functions to assist with the user query.\n"
    "All available function signatures are listed below:\n<available_tools>\n"
)
_CALL_FORMAT = (
    "For each function call, return an unescaped XML-like object with function name and "
    "arguments within '<tool_call>' and '</tool_call>' tags, like here:\n"
)
_THINK_THEN_CALL = (
    "Wrap your thinking in '<think>', '</think>' tags, followed by a function call. "
    + _CALL_FORMAT
    + "<think> your thoughts here </think>\n"
)
_CALL_EXAMPLE = (
    "<tool_call>function-name\n<arg_key>argument-key</arg_key>\n"
    "<arg_value>value-of-argument-key</arg_value>\n</tool_call>"
)


def _argument(value: Any) -> str:
    """``formatLagunaToolCallArgument``: strings as they are, the rest as spaced JSON."""
    return value if isinstance(value, str) else with_spaces(go_json(value))


def _listed(tools: list[Struct]) -> str:
    return "".join(with_spaces(go_json(tool)) + "\n" for tool in tools)


def _system_and_rest(messages: list[Message]) -> tuple[str, list[Message]]:
    """The header's system text (the template's default unless the conversation opens
    with its own) and the messages after it."""
    if messages and messages[0].role == "system":
        return messages[0].content, messages[1:]
    return DEFAULT_SYSTEM, messages


def _opening(thinking: bool) -> str:
    return "<think>" if thinking else "</think>"


# -- laguna ----------------------------------------------------------------------


def render_laguna(messages: list[Message], tools: list[Struct], think: Think) -> str:
    """Ollama's ``LagunaRenderer``: a last assistant turn with something in it is
    continued, not closed."""
    thinking = think is not None and thinks(think)
    system, rest = _system_and_rest(messages)
    out = [BOS, _laguna_header(system, tools, thinking)]
    for index, message in enumerate(rest):
        out.append(_laguna_turn(message, last=index == len(rest) - 1))
    if not rest or rest[-1].role != "assistant":
        out.append("<assistant>\n" + _opening(thinking))
    return "".join(out)


def _laguna_header(system: str, tools: list[Struct], thinking: bool) -> str:
    if not system.strip() and not tools:
        return ""
    header = "<system>\n" + ("\n" + system.rstrip() if system.strip() else "")
    if tools:
        header += "\n\n" + _TOOLS + _listed(tools) + "</available_tools>\n\n"
        header += (_THINK_THEN_CALL if thinking else _CALL_FORMAT) + _CALL_EXAMPLE
    return header + "\n</system>\n"


def _laguna_turn(message: Message, *, last: bool) -> str:
    if message.role == "user":
        return f"<user>\n{message.content}\n</user>\n"
    if message.role == "tool":
        return f"<tool_response>\n{message.content}\n</tool_response>\n"
    if message.role == "system":
        return f"<system>\n{message.content}\n</system>\n"
    if message.role != "assistant":
        return ""
    content, reasoning = _split_reasoning(message.content, message.thinking)
    prefill = last and bool(content.strip() or reasoning.strip() or message.tool_calls)
    text = "<assistant>\n"
    text += f"<think>\n{reasoning.strip()}\n</think>\n" if reasoning.strip() else "</think>\n"
    text += content.strip() + "\n" if content.strip() else ""
    for call in message.tool_calls:
        arguments = "".join(
            f"<arg_key>{key}</arg_key>\n<arg_value>{_argument(value)}</arg_value>\n"
            for key, value in call.arguments.items()
        )
        text += f"<tool_call>{call.name}\n{arguments}</tool_call>\n"
    return text if prefill else text + "</assistant>\n"


def _split_reasoning(content: str, reasoning: str) -> tuple[str, str]:
    """Reasoning written inline (``…</think>answer``) taken out of the content; the
    message's own ``thinking`` wins over it."""
    parts = content.split("</think>")
    if len(parts) == 1:
        return content, reasoning
    if not reasoning:
        before = parts[0].rstrip("\n")
        opened = before.rfind("<think>")
        before = before[opened + len("<think>") :] if opened >= 0 else before
        reasoning = before.lstrip("\n")
    return parts[-1].lstrip("\n"), reasoning


# -- poolside-v1 -----------------------------------------------------------------


def render_poolside_v1(messages: list[Message], tools: list[Struct], think: Think) -> str:
    """Ollama's ``LagunaV8Renderer``: every turn closed, a new assistant turn opened."""
    thinking = think is not None and thinks(think)
    system, rest = _system_and_rest(messages)
    out = [BOS, _v1_header(system, tools, thinking)]
    out += [_v1_turn(message, thinking) for message in rest]
    return "".join(out) + "<assistant>" + _opening(thinking)


def _v1_header(system: str, tools: list[Struct], thinking: bool) -> str:
    has_system = bool(system.strip())
    if not (has_system or tools or thinking):
        return ""
    header = "<system>" + (system.rstrip() if has_system else "")
    if tools:
        header += ("\n\n" if has_system else "") + _TOOLS + _listed(tools) + "</available_tools>"
    return header + "</system>\n"


def _v1_turn(message: Message, thinking: bool) -> str:
    if message.role in ("user", "system"):
        return f"<{message.role}>{message.content}</{message.role}>\n"
    if message.role == "tool":
        return f"<tool_response>{message.content}</tool_response>\n"
    if message.role != "assistant":
        return ""
    reasoning = f"<think>{message.thinking}</think>" if thinking else "</think>"
    calls = "".join(
        f"<tool_call>{call.name}"
        + "".join(
            f"<arg_key>{key}</arg_key><arg_value>{_argument(value)}</arg_value>"
            for key, value in call.arguments.items()
        )
        + "</tool_call>"
        for call in message.tool_calls
    )
    return f"<assistant>{reasoning}{message.content}{calls}</assistant>\n"
