"""Qwen's renderers: ``qwen3-coder``, ``qwen3-vl-instruct``/``-thinking``, ``qwen3.5``,
``qwen3.8`` and ``ornith`` (Ollama's ``qwen3coder.go``, ``qwen3vl.go``, ``qwen35.go``).

All write ChatML turns (``<|im_start|>role\\n…<|im_end|>``). Qwen3-Coder and Qwen 3.5
describe tools as XML (``<function><name>…``) or JSON and expect calls as
``<function=name><parameter=key>value</parameter>``; Qwen3-VL expects Hermes-style JSON
calls. Tool results go back as ``<tool_response>`` blocks in one user turn. A last
assistant message is a prefill: its turn is left open for the model to continue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from builder.templates.renderers.values import (
    Message,
    Struct,
    argument_text,
    as_map,
    go_json,
    go_sprint,
    with_spaces,
)
from builder.templates.thinking import Think, think_level, thinks
from ladle.errors import TemplateError

START, END = "<|im_start|>", "<|im_end|>"

_CODER_SYSTEM = (
    "You are Qwen, a helpful AI assistant that can interact with a computer to solve tasks."
)
_CALL_FORMAT = (
    "If you choose to call a function ONLY reply in the following format with NO suffix:\n\n"
    "<tool_call>\n<function=example_function_name>\n<parameter=example_parameter_1>\nvalue_1\n"
    "</parameter>\n<parameter=example_parameter_2>\nThis is the value for the second "
    "parameter\nthat can span\nmultiple lines\n</parameter>\n</function>\n</tool_call>\n\n"
    "<IMPORTANT>\nReminder:\n- Function calls MUST follow the specified format: an inner "
    "<function=...></function> block must be nested within <tool_call></tool_call> XML tags\n"
    "- Required parameters MUST be specified\n- You may provide optional reasoning for your "
    "function call in natural language BEFORE the function call, but NOT after\n- If there is "
    "no function call available, answer the question like normal with your current knowledge "
    "and do not tell the user about function calls\n</IMPORTANT>"
)


# -- shared pieces -----------------------------------------------------------------


def tool_results(messages: list[Message], index: int, content: str) -> str:
    """A tool result: consecutive ones share one user turn, each in its own block."""
    opens = index == 0 or messages[index - 1].role != "tool"
    closes = index == len(messages) - 1 or messages[index + 1].role != "tool"
    block = f"\n<tool_response>\n{content}\n</tool_response>"
    return (f"{START}user" if opens else "") + block + (f"{END}\n" if closes else "")


def _is_tool_response(content: str) -> bool:
    return content.startswith("<tool_response>") and content.endswith("</tool_response>")


def last_query(messages: list[Message], strip: bool) -> int:
    """The index of the last user message that is not only a tool response."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        content = message.content.strip() if strip else message.content
        if message.role == "user" and not _is_tool_response(content):
            return index
    return len(messages) - 1


def _xml_calls(message: Message) -> str:
    """Calls as ``<function=name>`` blocks with one ``<parameter=key>`` per argument."""
    calls = []
    for call in message.tool_calls:
        parameters = "".join(
            f"<parameter={name}>\n{argument_text(value)}\n</parameter>\n"
            for name, value in call.arguments.items()
        )
        calls.append(f"<tool_call>\n<function={call.name}>\n{parameters}</function>\n</tool_call>")
    return "\n".join(calls)


# -- qwen3-coder -------------------------------------------------------------------


def render_qwen3_coder(messages: list[Message], tools: list[Struct], think: Think) -> str:
    """Ollama's ``Qwen3CoderRenderer`` (no thinking: ``think`` is not read)."""
    system = next((m.content for m in messages if m.role == "system" and m.content), "")
    rest = [message for message in messages if message.role != "system"]
    out = []
    if system or tools:
        out.append(f"{START}system\n{system or _CODER_SYSTEM}")
        if tools:
            out.append("\n\n# Tools\n\nYou have access to the following functions:\n\n<tools>")
            out += [_coder_function(tool) for tool in tools]
            out.append(f"\n</tools>\n\n{_CALL_FORMAT}")
        out.append(f"{END}\n")
    for index, message in enumerate(rest):
        out.append(_coder_turn(rest, index))
        last = index == len(rest) - 1
        if last and message.role != "assistant":
            out.append(f"{START}assistant\n")
    return "".join(out)


def _coder_turn(messages: list[Message], index: int) -> str:
    message = messages[index]
    if message.role == "tool":
        return tool_results(messages, index, message.content)
    if message.role != "assistant":
        return f"{START}{message.role}\n{message.content}{END}\n"
    if not message.tool_calls:
        prefill = index == len(messages) - 1
        return f"{START}assistant\n{message.content}" + ("" if prefill else f"{END}\n")
    calls = "".join(
        f"\n<tool_call>\n<function={call.name}>"
        + "".join(
            f"\n<parameter={name}>\n{argument_text(value)}\n</parameter>"
            for name, value in call.arguments.items()
        )
        + "\n</function>\n</tool_call>"
        for call in message.tool_calls
    )
    content = f"{message.content}\n" if message.content else ""
    return f"{START}assistant\n{content}{calls}{END}\n"


def _coder_function(tool: Struct) -> str:
    function = tool["function"]
    out = ["\n<function>\n<name>", function["name"], "</name>"]
    if function.get("description"):
        out.append(f"\n<description>{function['description']}</description>")
    out.append("\n<parameters>")
    parameters = function["parameters"]
    for name, prop in (parameters.get("properties") or {}).items():
        out.append(f"\n<parameter>\n<name>{name}</name>")
        types = prop.get("type")
        if types:
            shown = types[0] if len(types) == 1 else go_json(list(types))
            out.append(f"\n<type>{shown}</type>")
        if prop.get("description"):
            out.append(f"\n<description>{prop['description']}</description>")
        out.append(_extra_keys(prop, {"type", "description"}))
        out.append("\n</parameter>")
    out.append(_extra_keys(parameters, {"type", "properties"}))
    out.append("\n</parameters>\n</function>")
    return "".join(out)


def _extra_keys(value: Struct, handled: set[str]) -> str:
    """Ollama's ``renderAdditionalKeys``: every other field as ``<key>value</key>``
    (objects and lists as JSON). Ollama walks a Go map here, in no fixed order; ladle
    keeps the fields' own order."""
    out = []
    for key, item in value.items():
        if key in handled or item is None:
            continue
        text = go_json(as_map(item)) if isinstance(item, dict | list) else go_sprint(item)
        out.append(f"\n<{key}>{text}</{key}>")
    return "".join(out)


# -- qwen3-vl ----------------------------------------------------------------------


def qwen3_vl(thinking: bool) -> Callable[[list[Message], list[Struct], Think], str]:
    """Ollama's ``Qwen3VLRenderer``; ``thinking`` is the default when ``think`` is unset."""

    def render(messages: list[Message], tools: list[Struct], think: Think) -> str:
        return _render_vl(messages, tools, thinks(think) if think is not None else thinking)

    return render


def _render_vl(messages: list[Message], tools: list[Struct], thinking: bool) -> str:
    out = []
    leading = messages[0].content if messages and messages[0].role == "system" else None
    if tools:
        out.append(f"{START}system\n" + (f"{leading}\n\n" if leading is not None else ""))
        out.append(
            "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
            "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
        )
        out += ["\n" + with_spaces(go_json(tool)) for tool in tools]
        out.append(
            "\n</tools>\n\nFor each function call, return a json object with function name and "
            'arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{"name": '
            f'<function-name>, "arguments": <args-json-object>}}\n</tool_call>{END}\n'
        )
    elif leading is not None:
        out.append(f"{START}system\n{leading}{END}\n")
    query = last_query(messages, strip=False)
    for index, message in enumerate(messages):
        out.append(_vl_turn(messages, index, thinking and index > query, thinking))
        if index == len(messages) - 1 and message.role != "assistant":
            out.append(f"{START}assistant\n" + ("<think>\n" if thinking else ""))
    return "".join(out)


def _vl_turn(messages: list[Message], index: int, current: bool, thinking: bool) -> str:
    message, content = messages[index], messages[index].content
    if message.role == "user" or (message.role == "system" and index != 0):
        return f"{START}{message.role}\n{content}{END}\n"
    if message.role == "tool":
        return tool_results(messages, index, content)
    if message.role != "assistant":
        return ""
    reasoning = message.thinking if thinking else ""
    text = f"{START}assistant\n{content}"
    if current and (index == len(messages) - 1 or reasoning):
        text = f"{START}assistant\n<think>\n" + reasoning.strip("\n")
        text += f"\n</think>\n\n{content.lstrip(chr(10))}" if content else ""
    for number, call in enumerate(message.tool_calls):
        separator = "\n" if number > 0 or content else ""
        arguments = with_spaces(go_json(call.arguments))
        call_json = f'{{"name": "{call.name}", "arguments": {arguments}}}'
        text += f"{separator}<tool_call>\n{call_json}\n</tool_call>"
    prefill = index == len(messages) - 1
    return text + ("" if prefill else f"{END}\n")


# -- qwen3.5, qwen3.8, ornith --------------------------------------------------------

_XHIGH = (
    "Reasoning effort is set to xhigh. Please think carefully through the task, validate key "
    "assumptions, consider plausible alternatives, and prioritize correctness, consistency, "
    "and clarity in the final answer."
)
_LOW = (
    "Reasoning effort is set to low. Keep your thinking brief and focused, moving directly "
    "to the conclusion without unnecessary elaboration."
)


@dataclass(frozen=True)
class Qwen35:
    """Ollama's ``Qwen35Renderer`` and its variants (``qwen3.8``: instructions folded
    into one system turn, a reasoning-effort line; ``ornith``: always a think block)."""

    qwen38: bool = False
    always_think_block: bool = False

    def __call__(self, messages: list[Message], tools: list[Struct], think: Think) -> str:
        if self.qwen38:
            messages = _fold_instructions(messages)
            _check_qwen38(messages)
        thinking = thinks(think) if think is not None else True
        effort = _effort(think) if self.qwen38 else ""
        out = [self._system(messages, tools, effort)]
        query = last_query(messages, strip=True)
        for index, message in enumerate(messages):
            out.append(self._turn(messages, index, thinking and index > query))
            if index == len(messages) - 1 and message.role != "assistant":
                out.append(f"{START}assistant\n")
                out.append("<think>\n" if thinking else "<think>\n\n</think>\n\n")
        return "".join(out)

    def _system(self, messages: list[Message], tools: list[Struct], effort: str) -> str:
        leading = messages[0].content.strip() if messages and messages[0].role == "system" else None
        head = f"{effort}\n\n" if effort else ""
        if tools:
            listed = "".join("\n" + with_spaces(go_json(tool)) for tool in tools)
            system = f"\n\n{leading}" if leading else ""
            return (
                f"{START}system\n{head}# Tools\n\nYou have access to the following functions:"
                f"\n\n<tools>{listed}\n</tools>\n\n{_CALL_FORMAT}{system}{END}\n"
            )
        if leading is not None:
            if self.qwen38 and not leading and not effort:
                return ""
            joiner = "\n\n" if effort and leading else ""
            return f"{START}system\n{effort}{joiner}{leading}{END}\n"
        return f"{START}system\n{effort}{END}\n" if effort else ""

    def _turn(self, messages: list[Message], index: int, current: bool) -> str:
        message, content = messages[index], messages[index].content.strip()
        if message.role == "user" or (message.role == "system" and index != 0):
            return f"{START}{message.role}\n{content}{END}\n"
        if message.role == "tool":
            return tool_results(messages, index, content)
        if message.role != "assistant":
            unexpected = self.qwen38 and message.role != "system"
            return f"{START}{message.role}\n{content}{END}\n" if unexpected else ""
        block = self.always_think_block or current
        reasoning, content = _split_reasoning(content, message.thinking, block, not self.qwen38)
        text = f"{START}assistant\n"
        text += f"<think>\n{reasoning}\n</think>\n\n{content}" if block else content
        if message.tool_calls:
            text += ("\n\n" if content.strip() else "") + _xml_calls(message)
        prefill = index == len(messages) - 1
        return text + ("" if prefill else f"{END}\n")


def _split_reasoning(content: str, thinking: str, block: bool, tagged: bool) -> tuple[str, str]:
    """The reasoning an assistant turn shows and the content after it: the message's
    ``thinking``, or (Qwen 3.5) a ``<think>…</think>`` inside its content."""
    if block and thinking:
        return thinking.strip(), content
    if not tagged or "</think>" not in content:
        return "", content
    before, _, after = content.partition("</think>")
    opening = before.rfind("<think>")
    reasoning = before[opening + len("<think>") :] if opening >= 0 else before
    return reasoning.strip(), after.lstrip("\n")


def _effort(think: Think) -> str:
    """Qwen3.8's reasoning-effort instructions for ``think``."""
    if think is None:
        return _XHIGH
    if not thinks(think):
        return ""
    efforts = {"low": _LOW, "medium": "", "high": _XHIGH, "max": _XHIGH}
    level = think_level(think)
    if level not in efforts:
        raise TemplateError(f"unsupported Qwen3.8 reasoning effort {level!r}")
    return efforts[level]


def _fold_instructions(messages: list[Message]) -> list[Message]:
    """Qwen3.8 takes one leading system turn and no developer role: every system and
    developer message is folded into one, in order, before the conversation."""
    instructions = [m for m in messages if m.role in ("system", "developer")]
    if not instructions or (len(instructions) == 1 and messages[0].role == "system"):
        return messages
    text = "\n\n".join(m.content.strip() for m in instructions if m.content.strip())
    rest = [m for m in messages if m.role not in ("system", "developer")]
    return [Message("system", text), *rest]


def _check_qwen38(messages: list[Message]) -> None:
    if not messages:
        raise TemplateError("no messages provided")
    if not any(m.role == "user" and not _is_tool_response(m.content.strip()) for m in messages):
        raise TemplateError("no user query found in messages")
