"""Zhipu's GLM renderers: ``glm-4.7`` and ``glm-ocr`` (Ollama's ``glm47.go`` and
``glmocr.go``).

Both start with ``[gMASK]<sop>``, list tools as JSON in ``<tools>`` and expect calls as
``<tool_call>name<arg_key>k</arg_key><arg_value>v</arg_value></tool_call>``; tool
results follow an ``<|observation|>`` marker. GLM-4.7 thinks unless asked not to and
keeps earlier turns' reasoning; GLM-OCR thinks only by default and marks a turn that
should not think with ``/nothink``.
"""

from __future__ import annotations

from builder.templates.renderers.values import Message, Struct, go_json, with_spaces
from builder.templates.thinking import Think, thinks

_TOOLS = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
)
_CALL_FORMAT = (
    "</tools>\n\nFor each function call, output the function name and arguments within the "
    "following XML format:\n<tool_call>{function-name}<arg_key>{arg-key-1}</arg_key>"
    "<arg_value>{arg-value-1}</arg_value><arg_key>{arg-key-2}</arg_key>"
    "<arg_value>{arg-value-2}</arg_value>...</tool_call>"
)


def _tools(tools: list[Struct]) -> str:
    if not tools:
        return ""
    listed = "".join(with_spaces(go_json(tool)) + "\n" for tool in tools)
    return "<|system|>\n" + _TOOLS + listed + _CALL_FORMAT


def _calls(message: Message, before: str = "") -> str:
    """The message's calls, each after ``before``."""
    return "".join(
        f"{before}<tool_call>{call.name}"
        + "".join(
            f"<arg_key>{key}</arg_key><arg_value>"
            + (value if isinstance(value, str) else go_json(value))
            + "</arg_value>"
            for key, value in call.arguments.items()
        )
        + "</tool_call>"
        for call in message.tool_calls
    )


def _observation(messages: list[Message], index: int) -> str:
    return "<|observation|>" if index == 0 or messages[index - 1].role != "tool" else ""


def render_glm47(messages: list[Message], tools: list[Struct], think: Think) -> str:
    """Ollama's ``GLM47Renderer``: thinking unless ``think`` is false."""
    out = ["[gMASK]<sop>", _tools(tools)]
    for index, message in enumerate(messages):
        if message.role == "user":
            out.append(f"<|user|>{message.content}")
        elif message.role == "assistant":
            reasoning = f"<think>{message.thinking}</think>" if message.thinking else "</think>"
            out.append(f"<|assistant|>{reasoning}{message.content}{_calls(message)}")
        elif message.role == "tool":
            out.append(
                f"{_observation(messages, index)}<tool_response>{message.content}</tool_response>"
            )
        elif message.role == "system":
            out.append(f"<|system|>{message.content}")
    quiet = think is not None and not thinks(think)
    return "".join(out) + "<|assistant|>" + ("</think>" if quiet else "<think>")


def render_glm_ocr(messages: list[Message], tools: list[Struct], think: Think) -> str:
    """Ollama's ``GlmOcrRenderer``: ``/nothink`` on user turns when ``think`` is false."""
    quiet = think is not None and not thinks(think)
    out = ["[gMASK]<sop>", _tools(tools)]
    for index, message in enumerate(messages):
        if message.role == "user":
            marker = "/nothink" if quiet and not message.content.endswith("/nothink") else ""
            out.append(f"<|user|>\n{message.content}{marker}")
        elif message.role == "assistant":
            reasoning = message.thinking.strip()
            text = f"<|assistant|>\n<think>{reasoning}</think>"
            text += f"\n{message.content.strip()}" if message.content else ""
            out.append(text + _calls(message, "\n") + "\n")
        elif message.role == "tool":
            result = f"\n<tool_response>\n{message.content}\n</tool_response>\n"
            out.append(_observation(messages, index) + result)
        elif message.role == "system":
            out.append(f"<|system|>\n{message.content}\n")
    return "".join(out) + "<|assistant|>\n" + ("<think></think>\n" if quiet else "")
