# DeepSeek spells its special tokens with fullwidth bars (U+FF5C) and lower blocks (U+2581).
# ruff: noqa: RUF001, RUF002
"""DeepSeek-style renderers: ``deepseek3.1`` and ``cogito`` (Ollama's ``deepseek3.go``
and ``cogito.go``).

Both write DeepSeek V3's special tokens (``<｜User｜>``, ``<｜Assistant｜>``,
``<｜tool▁calls▁begin｜>``…) after the ``<｜begin▁of▁sentence｜>`` BOS; thinking is on
only when the request asks for it, and then the answer opens with ``<think>``.
"""

from __future__ import annotations

from builder.templates.renderers.values import Message, Struct, go_json
from builder.templates.thinking import Think, thinks

BOS = "<｜begin▁of▁sentence｜>"
END = "<｜end▁of▁sentence｜>"
USER, ASSISTANT = "<｜User｜>", "<｜Assistant｜>"
CALLS_BEGIN, CALLS_END = "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"
CALL_BEGIN, CALL_END, SEP = "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>", "<｜tool▁sep｜>"
OUTPUT_BEGIN, OUTPUT_END = "<｜tool▁output▁begin｜>", "<｜tool▁output▁end｜>"
OUTPUTS_BEGIN, OUTPUTS_END = "<｜tool▁outputs▁begin｜>", "<｜tool▁outputs▁end｜>"

_TOOL_USE = (
    "\nIMPORTANT: ALWAYS adhere to this exact format for tool use:\n"
    f"{CALLS_BEGIN}{CALL_BEGIN}tool_call_name{SEP}tool_call_arguments{CALL_END}"
    "{{additional_tool_calls}}" + f"{CALLS_END}\n\n"
    "Where:\n\n"
    "- `tool_call_name` must be an exact match to one of the available tools\n"
    "- `tool_call_arguments` must be valid JSON that strictly follows the tool's "
    "Parameters Schema\n"
    "- For multiple tool calls, chain them directly without separators or spaces\n"
)


# -- deepseek3.1 -------------------------------------------------------------------


def render_deepseek31(messages: list[Message], tools: list[Struct], think: Think) -> str:
    """Ollama's ``DeepSeek3Renderer`` (DeepSeek V3.1): thinking only when asked for."""
    thinking = thinks(think)
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    out = [BOS, system, _deepseek_tools(tools)]
    state = _State()
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    for index, message in enumerate(messages):
        out.append(state.turn(message, thinking and index > last_user))
    if state.last_user and not state.tool:
        out.append(ASSISTANT + ("<think>" if thinking else "</think>"))
    return "".join(out)


def _deepseek_tools(tools: list[Struct]) -> str:
    if not tools:
        return ""
    out = ["\n\n## Tools\nYou have access to the following tools:\n"]
    for tool in tools:
        function = tool["function"]
        out.append(f"\n### {function['name']}\nDescription: {function.get('description', '')}")
        out.append(f"\n\nParameters: {go_json(function['parameters'])}\n")
    return "".join(out) + _TOOL_USE


class _State:
    """What the previous messages left open: a user turn, a tool output."""

    def __init__(self) -> None:
        self.last_user = False
        self.tool = False

    def turn(self, message: Message, current: bool) -> str:
        if message.role == "user":
            self.tool, self.last_user = False, True
            return USER + message.content
        if message.role == "tool":
            self.last_user, self.tool = False, True
            return OUTPUT_BEGIN + message.content + OUTPUT_END
        if message.role != "assistant":
            return ""
        return self._calls(message) if message.tool_calls else self._answer(message, current)

    def _calls(self, message: Message) -> str:
        opening = ASSISTANT + "</think>" if self.last_user else ""
        self.last_user = self.tool = False
        calls = "".join(
            f"{CALL_BEGIN}{call.name}{SEP}{go_json(call.arguments)}{CALL_END}"
            for call in message.tool_calls
        )
        return f"{opening}{message.content}{CALLS_BEGIN}{calls}{CALLS_END}{END}"

    def _answer(self, message: Message, current: bool) -> str:
        opening = ""
        if self.last_user:
            thinks_now = bool(message.thinking) and current
            opening = ASSISTANT + ("<think>" if thinks_now else "</think>")
        self.last_user = False
        content = message.content
        if self.tool:
            self.tool = False
        elif "</think>" in content:
            content = content.split("</think>", 1)[1]
        return f"{opening}{content}{END}"


# -- cogito ------------------------------------------------------------------------

_COGITO = (
    "You are Cogito, an AI assistant created by Deep Cogito, which is an AI research lab "
    "based in San Francisco."
)


def render_cogito(messages: list[Message], tools: list[Struct], think: Think) -> str:
    """Ollama's ``CogitoRenderer``: Deep Cogito's system prompt, thinking when asked."""
    thinking = thinks(think)
    system, rest = "", messages
    if messages and messages[0].role == "system":
        system, rest = messages[0].content, messages[1:]
    out = [BOS + _cogito_system(system, tools, thinking)]
    last_user = False
    for index, message in enumerate(rest):
        if message.role in ("user", "assistant", "tool"):  # other roles leave it as it was
            last_user = message.role == "user"
        out.append(_cogito_turn(rest, index))
    if not last_user:
        out.append(ASSISTANT)
    if thinking:
        out.append("<think>\n")
    return "".join(out)


def _cogito_system(system: str, tools: list[Struct], thinking: bool) -> str:
    if thinking:
        text = "Enable deep thinking subroutine.\n\n" + _COGITO
        text += f"\n\n{system}\n\n" if system else ""
    else:
        text = _COGITO + (f"\n\n{system}" if system else "")
    if tools:
        text += "\nYou have the following functions available:\n"
        text += "".join(f"```json\n{go_json(tool, indent='    ')}\n```\n" for tool in tools)
    return text


def _cogito_turn(messages: list[Message], index: int) -> str:
    message = messages[index]
    if message.role == "user":
        return f"{USER}{message.content}{ASSISTANT}"
    if message.role == "tool":
        opens = index == 0 or messages[index - 1].role != "tool"
        more = index + 1 < len(messages) and messages[index + 1].role == "tool"
        output = f"{OUTPUT_BEGIN}{message.content}{OUTPUT_END}"
        return (OUTPUTS_BEGIN if opens else "") + output + ("\n" if more else OUTPUTS_END)
    if message.role != "assistant":
        return ""
    if not message.tool_calls:
        return message.content + END
    calls = "\n".join(
        f"{CALL_BEGIN}function{SEP}{call.name}\n```json\n{go_json(call.arguments)}\n```{CALL_END}"
        for call in message.tool_calls
    )
    return f"{message.content}{CALLS_BEGIN}{calls}{CALLS_END}{END}"
