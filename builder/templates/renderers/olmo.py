"""Ai2's Olmo 3 renderers: ``olmo3``, ``olmo3.1``, ``olmo3-think`` and
``olmo3-32b-think`` (Ollama's ``olmo3.go`` and ``olmo3_think.go``).

ChatML turns; the instruct models list tools as JSON inside ``<functions>`` and expect
calls as ``name(key=value)`` inside ``<function_calls>``; tool results come back from
the ``environment`` role. The Think models take no tools and always open the answer
with ``<think>``.
"""

from __future__ import annotations

from collections.abc import Callable

from builder.templates.renderers.values import Message, Struct, go_json, with_spaces
from builder.templates.thinking import Think

START, END = "<|im_start|>", "<|im_end|>"

_OLMO3 = "You are a helpful function-calling AI assistant. "
_OLMO31 = (
    "You are Olmo, a helpful AI assistant built by Ai2. Your date cutoff is December 2024, "
    "and your model weights are available at https://huggingface.co/allenai. "
)
_NO_FUNCTIONS = "You do not currently have access to any functions. "
_WITH_FUNCTIONS = (
    "You are provided with function signatures within <functions></functions> XML tags. "
    "You may call one or more functions to assist with the user query. Output any function "
    "calls within <function_calls></function_calls> XML tags. Do not make assumptions about "
    "what values to plug into functions."
)
_THINK_32B = "You are a helpful AI assistant."
_THINK_FUNCTIONS = " You do not currently have access to any functions. <functions></functions>"

Render = Callable[[list[Message], list[Struct], Think], str]


def olmo3(extended: bool) -> Render:
    """Ollama's ``Olmo3Renderer``; ``extended`` (``olmo3.1``) introduces Olmo by name."""

    def render(messages: list[Message], tools: list[Struct], think: Think) -> str:
        system = next((m for m in messages if m.role == "system"), None)
        rest = [message for message in messages if message.role != "system"]
        out = [f"{START}system\n", _system(system, tools, extended), f"{END}\n"]
        out += [_turn(message, index == len(rest) - 1) for index, message in enumerate(rest)]
        last = rest[-1] if rest else None
        answered = last is not None and last.role == "assistant" and not last.tool_calls
        if not (answered and last is not None and last.content):
            out.append(f"{START}assistant\n")
        return "".join(out)

    return render


def _system(system: Message | None, tools: list[Struct], extended: bool) -> str:
    functions = f"<functions>{with_spaces(go_json(tools))}</functions>" if tools else ""
    if system is not None:
        return system.content + functions
    default = _OLMO31 if extended else _OLMO3
    if tools:
        return default + _WITH_FUNCTIONS + functions
    return default + _NO_FUNCTIONS + "<functions></functions>"


def _turn(message: Message, last: bool) -> str:
    if message.role == "user":
        return f"{START}user\n{message.content}{END}\n"
    if message.role == "tool":
        return f"{START}environment\n{message.content}{END}\n"
    if message.role != "assistant":
        return ""
    text = f"{START}assistant\n{message.content}"
    if message.tool_calls:
        calls = "\n".join(
            call.name
            + "("
            + ", ".join(f"{key}={go_json(call.arguments[key])}" for key in sorted(call.arguments))
            + ")"
            for call in message.tool_calls
        )
        text += f"<function_calls>{calls}</function_calls>"
    if not last or message.tool_calls:
        text += f"{END}\n"
    return text


def olmo3_think(olmo31: bool) -> Render:
    """Ollama's ``Olmo3ThinkRenderer``: ``olmo31`` for Olmo-3-7B-Think and
    Olmo-3.1-32B-Think (Olmo's own system prompt), else Olmo-3-32B-Think's."""

    def render(messages: list[Message], tools: list[Struct], think: Think) -> str:
        system = next((m for m in messages if m.role == "system"), None)
        if system is not None:
            head = system.content + _THINK_FUNCTIONS
        else:
            head = _OLMO31.rstrip() if olmo31 else _THINK_32B
        out = [f"{START}system\n{head}{END}\n"]
        for message in messages:  # tool messages and calls are left out: no tools here
            if message.role in ("user", "assistant"):
                out.append(f"{START}{message.role}\n{message.content}{END}\n")
        return "".join(out) + f"{START}assistant\n<think>"

    return render
