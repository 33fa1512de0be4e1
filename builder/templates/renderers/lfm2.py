"""Liquid AI's LFM2 renderers: ``lfm2`` and ``lfm2-thinking`` (Ollama's ``lfm2.go``).

ChatML turns after the ``<|startoftext|>`` BOS; tools are listed as JSON (written as
Hugging Face's ``tojson`` writes it) between ``<|tool_list_start|>`` and
``<|tool_list_end|>`` in the system turn, calls are Python-like
(``[name(key=value)]``) between ``<|tool_call_start|>`` and ``<|tool_call_end|>``, and
earlier turns lose their ``<think>`` block unless thinking is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from builder.templates.renderers.values import Message, Struct, ToolCall, go_json, with_spaces
from builder.templates.thinking import Think, thinks

BOS = "<|startoftext|>"
START, END = "<|im_start|>", "<|im_end|>"
CALL_START, CALL_END = "<|tool_call_start|>", "<|tool_call_end|>"
RESPONSE_START, RESPONSE_END = "<|tool_response_start|>", "<|tool_response_end|>"


def _json(value: Any) -> str:
    """JSON as the template's ``tojson`` writes it: ``", "`` and ``": "``, no HTML escapes."""
    return with_spaces(go_json(value, escape_html=False))


def lfm2(thinking: bool) -> Callable[[list[Message], list[Struct], Think], str]:
    """Ollama's ``LFM2Renderer``; ``thinking`` for ``lfm2-thinking``, which writes an
    assistant turn's reasoning back and keeps earlier turns' when ``think`` asks."""

    def render(messages: list[Message], tools: list[Struct], think: Think) -> str:
        first = 1 if messages and messages[0].role == "system" else 0
        out = [BOS, _system(messages[0].content if first else "", tools)]
        keep = thinking and thinks(think)
        assistants = [i for i in range(first, len(messages)) if messages[i].role == "assistant"]
        last_assistant = assistants[-1] if assistants else -1
        for index in range(first, len(messages)):
            message = messages[index]
            content = _content(message, thinking, keep or index == last_assistant)
            prefill = index == len(messages) - 1 and message.role == "assistant"
            out.append(f"{START}{message.role}\n{content}" + ("" if prefill else f"{END}\n"))
        if not messages or messages[-1].role != "assistant":
            out.append(f"{START}assistant\n")
        return "".join(out)

    return render


def _system(system: str, tools: list[Struct]) -> str:
    if tools:
        listed = ", ".join(
            _json(tool["function"] if tool["function"]["name"] else tool) for tool in tools
        )
        system += (
            "\n" if system else ""
        ) + f"List of tools: <|tool_list_start|>[{listed}]<|tool_list_end|>"
    return f"{START}system\n{system}{END}\n" if system else ""


def _content(message: Message, thinking: bool, keep_thinking: bool) -> str:
    content = message.content
    if message.role == "tool":
        return content if RESPONSE_START in content else RESPONSE_START + content + RESPONSE_END
    if message.role != "assistant":
        return content
    if message.tool_calls and CALL_START not in content:
        calls = _calls(message.tool_calls)
        content = calls + content if not content.strip() else f"{calls}\n{content}"
    if thinking and message.thinking and "</think>" not in content:
        content = f"<think>{message.thinking}</think>{content}"
    if not keep_thinking and "</think>" in content:
        content = content[content.rindex("</think>") + len("</think>") :].strip()
    return content


def _calls(calls: tuple[ToolCall, ...]) -> str:
    written = ",".join(
        call.name
        + "("
        + ",".join(f"{key}={_json(call.arguments[key])}" for key in sorted(call.arguments))
        + ")"
        for call in calls
    )
    return f"{CALL_START}[{written}]{CALL_END}"
