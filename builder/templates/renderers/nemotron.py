"""NVIDIA's Nemotron 3 renderers: ``nemotron-3-nano`` and ``nemotron-3.5-nano``
(Ollama's ``nemotron3nano.go``).

ChatML turns; tools are described in Qwen3-Coder's XML (``<function>``, ``<parameter>``)
and called as ``<tool_call><function=name><parameter=key>value</parameter>…``, tool
results grouped in one user turn. Every assistant turn opens with its reasoning
(``<think></think>`` when none), and reasoning before the last user turn is dropped.
The model thinks unless asked not to; Nemotron 3 also reads ``/think`` and
``/no_think`` in user and system messages (and removes them), while 3.5 takes only the
request's ``think`` and marks a ``"medium"`` effort on the last user turn.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from builder.templates.renderers.values import Message, Struct, TypeList, go_json, go_sprint
from builder.templates.thinking import Think, thinks

_CALL_FORMAT = (
    "\n\nIf you choose to call a function ONLY reply in the following format with NO suffix:"
    "\n\n<tool_call>\n<function=example_function_name>\n<parameter=example_parameter_1>\n"
    "value_1\n</parameter>\n<parameter=example_parameter_2>\nThis is the value for the "
    "second parameter\nthat can span\nmultiple lines\n</parameter>\n</function>\n"
    "</tool_call>\n\n<IMPORTANT>\nReminder:\n- Function calls MUST follow the specified "
    "format: an inner <function=...></function> block must be nested within "
    "<tool_call></tool_call> XML tags\n- Required parameters MUST be specified\n- You may "
    "provide optional reasoning for your function call in natural language BEFORE the "
    "function call, but NOT after\n- If there is no function call available, answer the "
    "question like normal with your current knowledge and do not tell the user about "
    "function calls\n</IMPORTANT>"
)
_MEDIUM_EFFORT = "\n\n{reasoning effort: efficient}"


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote``: printable characters as they are, the rest escaped."""
    out = ['"']
    for char in text:
        out.append(_quoted_char(char))
    return "".join(out) + '"'


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n"}
_ESCAPES |= {"\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _quoted_char(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if char.isprintable():
        return char
    code = ord(char)
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def python_json(value: Any) -> str:
    """Ollama's ``pythonJSON``: JSON with Python's ``", "`` and ``": "`` separators and
    Go-quoted strings; ordered maps keep their order, other objects are sorted."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, TypeList) and len(value) == 1:
        return go_quote(value[0])
    if isinstance(value, int | float):
        return go_json(value)
    if isinstance(value, Mapping):
        keys = list(value) if isinstance(value, Struct) else sorted(value)
        return "{" + ", ".join(f"{go_quote(k)}: {python_json(value[k])}" for k in keys) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(python_json(item) for item in value) + "]"
    return go_quote(str(value))


def template_value(value: Any) -> str:
    """A value as the template prints it: containers as :func:`python_json`, scalars as
    Python's ``str`` (``True``, ``None``) or Go's ``%v`` for numbers."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, Mapping | list | tuple):
        return python_json(value)
    return go_sprint(value)


def _type_text(types: TypeList) -> str:
    if len(types) == 1:
        return types[0]
    return "[" + ", ".join(f"'{name}'" for name in types) + "]"


def _parameter(name: str, prop: Struct) -> str:
    text = f"\n<parameter>\n<name>{name}</name>"
    text += f"\n<type>{_type_text(prop['type'])}</type>" if prop.get("type") else ""
    text += (
        f"\n<description>{prop['description'].strip()}</description>"
        if prop.get("description")
        else ""
    )
    for key in ("enum", "anyOf", "items", "properties", "required"):
        if prop.get(key) is not None:
            text += f"\n<{key}>{python_json(prop[key])}</{key}>"
    return text + "\n</parameter>"


def _function(tool: Struct) -> str:
    function, parameters = tool["function"], tool["function"]["parameters"]
    text = f"\n<function>\n<name>{function['name']}</name>"
    if function.get("description"):
        text += f"\n<description>{function['description'].strip()}</description>"
    text += "\n<parameters>"
    properties = parameters.get("properties") or {}
    text += "".join(_parameter(name, prop) for name, prop in properties.items())
    for key in ("$defs", "items"):
        if parameters.get(key) is not None:
            text += f"\n<{key}>{template_value(parameters[key])}</{key}>"
    if parameters.get("required"):
        text += f"\n<required>{python_json(parameters['required'])}</required>"
    return text + "\n</parameters>\n</function>"


def tools_text(tools: list[Struct]) -> str:
    """The ``# Tools`` section of the system turn."""
    listed = "".join(_function(tool) for tool in tools)
    intro = "# Tools\n\nYou have access to the following functions:\n\n<tools>"
    return intro + listed + "\n</tools>" + _CALL_FORMAT


def strip_toggles(text: str) -> str:
    """The text without ``/think`` and ``/no_think`` (a ``</think>`` tag is kept)."""
    text = text.replace("</think>", "<_end_think>").replace("/think", "")
    return text.replace("/no_think", "").replace("<_end_think>", "</think>")


def _calls(message: Message) -> str:
    return "".join(
        f"<tool_call>\n<function={call.name}>\n"
        + "".join(
            f"<parameter={key}>\n{template_value(value)}\n</parameter>\n"
            for key, value in call.arguments.items()
        )
        + "</function>\n</tool_call>\n"
        for call in message.tool_calls
    )


@dataclass(frozen=True)
class Nemotron3Nano:
    """Ollama's ``Nemotron3NanoRenderer`` (``v35``: the 3.5 layout)."""

    v35: bool = False

    def __call__(self, messages: list[Message], tools: list[Struct], think: Think) -> str:
        thinking = self._thinking(messages, think)
        medium = self.v35 and think == "medium"
        system, turns = "", messages
        if messages and messages[0].role == "system":
            content = messages[0].content
            system, turns = (content if self.v35 else strip_toggles(content)), messages[1:]
        last_user = max((i for i, m in enumerate(turns) if m.role == "user"), default=-1)
        out = ["<|im_start|>system\n", system]
        out += [("\n\n" if system else "") + tools_text(tools)] if tools else []
        out.append("<|im_end|>\n")
        out += [self._turn(turns, index, last_user, medium) for index in range(len(turns))]
        opening = "<think>\n" if thinking else "<think></think>"
        return "".join(out) + "<|im_start|>assistant\n" + opening

    def _thinking(self, messages: list[Message], think: Think) -> bool:
        """Whether the answer reasons: ``think`` (default yes), and for Nemotron 3 the
        last ``/think`` or ``/no_think`` in a user or system message."""
        enabled = think is None or thinks(think)
        if self.v35:
            return enabled
        for message in messages:
            if message.role not in ("user", "system"):
                continue
            if "/think" in message.content.replace("</think>", ""):
                enabled = True
            elif "/no_think" in message.content:
                enabled = False
        return enabled

    def _turn(self, turns: list[Message], index: int, last_user: int, medium: bool) -> str:
        message = turns[index]
        if message.role == "assistant":
            return self._assistant(message, truncate=index < last_user)
        if message.role in ("user", "system"):
            content = message.content
            if not self.v35:
                content = strip_toggles(content).strip()
            elif message.role == "user" and index == last_user and medium:
                content += _MEDIUM_EFFORT
            return f"<|im_start|>{message.role}\n{content}<|im_end|>\n"
        if message.role == "tool":
            opens = index > 0 and turns[index - 1].role != "tool"
            closes = index + 1 >= len(turns) or turns[index + 1].role != "tool"
            text = f"<tool_response>\n{message.content}\n</tool_response>\n"
            return (
                ("<|im_start|>user\n" if opens else "") + text + ("<|im_end|>\n" if closes else "")
            )
        return f"<|im_start|>{message.role}\n{message.content}<|im_end|>\n"

    def _assistant(self, message: Message, *, truncate: bool) -> str:
        content = self._content(message)
        if message.tool_calls:
            body = _call_preamble(content, truncate) + _calls(message)
        else:
            body = _answer(content, truncate)
        return f"<|im_start|>assistant\n{body}<|im_end|>\n"

    def _content(self, message: Message) -> str:
        """The turn's reasoning and answer as one text (``buildContent``)."""
        if message.thinking:
            closing = "</think>" if self.v35 else "\n</think>\n"
            return f"<think>\n{message.thinking}{closing}{message.content}"
        if "<think>" not in message.content and "</think>" not in message.content:
            return "<think></think>" + message.content
        return message.content


def _answer(content: str, truncate: bool) -> str:
    if truncate and "<think>" in content and "</think>" in content:
        content = "<think></think>" + content.split("</think>")[-1]
    return content.strip()


def _call_preamble(content: str, truncate: bool) -> str:
    """What comes before a turn's calls (``formatToolCallContent``)."""
    if not content.strip():
        return "<think></think>"
    if not truncate:
        return content.strip() + "\n"
    if "</think>" in content:
        content = content.split("</think>")[-1]
    elif "<think>" in content:
        content = content.split("<think>")[0]
    return ("<think></think>" + content.strip()).strip() + "\n"
