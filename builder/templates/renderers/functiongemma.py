"""Google's FunctionGemma renderer: ``functiongemma`` (Ollama's ``functiongemma.go``).

Gemma's ``<start_of_turn>role`` turns, with a ``developer`` turn that declares the
tools in Gemma's own object notation
(``<start_function_declaration>declaration:name{description:<escape>…<escape>,…}``);
calls are ``<start_function_call>call:name{key:value,…}<end_function_call>`` and each
result follows its call in the same model turn as
``<start_function_response>response:name{…}<end_function_response>``. Strings are
wrapped in ``<escape>``; object keys are written sorted. It does not reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from builder.templates.renderers.values import Message, Struct, go_sprint
from builder.templates.thinking import Think

BOS = "<bos>"
DEFAULT_SYSTEM = "You can do function calling with the following functions:"


def value_text(value: Any) -> str:
    """A call argument or result in Gemma's notation (``formatArgValue``)."""
    if isinstance(value, str):
        return f"<escape>{value}<escape>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{key}:{value_text(value[key])}" for key in sorted(value)) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(value_text(item) for item in value) + "]"
    return go_sprint(value)


def _declaration(tool: Struct) -> str:
    function = tool["function"]
    parameters = function["parameters"]
    text = f"<start_function_declaration>declaration:{function['name']}{{"
    text += f"description:<escape>{function.get('description', '')}<escape>"
    properties, kind = parameters.get("properties"), parameters.get("type", "")
    if properties is not None or kind:
        parts = [f"properties:{{{_properties(properties)}}}"] if properties else []
        required = parameters.get("required") or []
        if required:
            parts.append("required:[" + ",".join(f"<escape>{r}<escape>" for r in required) + "]")
        if kind:
            parts.append(f"type:<escape>{kind.upper()}<escape>")
        text += ",parameters:{" + ",".join(parts) + "}"
    return text + "}<end_function_declaration>"


def _properties(properties: Struct) -> str:
    def one(name: str) -> str:
        prop = properties[name]
        kinds = prop.get("type") or []
        kind = f",type:<escape>{kinds[0].upper()}<escape>" if kinds else ""
        return f"{name}:{{description:<escape>{prop.get('description', '')}<escape>{kind}}}"

    return ",".join(one(name) for name in sorted(properties))


def _developer_turn(system: str, tools: list[Struct]) -> str:
    if not system and not tools:
        return ""
    text = "<start_of_turn>developer\n" + system.strip()
    if tools:
        text += "\n" if system else ""
        text += DEFAULT_SYSTEM if system.strip() != DEFAULT_SYSTEM else ""
    return text + "".join(_declaration(tool) for tool in tools) + "<end_of_turn>\n"


def _call(name: str, arguments: Mapping[str, Any]) -> str:
    pairs = ",".join(f"{key}:{value_text(arguments[key])}" for key in sorted(arguments))
    return f"<start_function_call>call:{name}{{{pairs}}}<end_function_call>"


def _result_name(turns: list[Message], index: int) -> str:
    """The name of the call a tool result answers: the n-th call of the last assistant
    turn with calls, n counting the results since it."""
    for back in range(index - 1, -1, -1):
        if turns[back].role == "assistant" and turns[back].tool_calls:
            position = sum(1 for m in turns[back + 1 : index] if m.role == "tool")
            calls = turns[back].tool_calls
            return calls[position].name if position < len(calls) else ""
    return ""


def render_functiongemma(messages: list[Message], tools: list[Struct], think: Think) -> str:
    """Ollama's ``FunctionGemmaRenderer`` (``think`` plays no part)."""
    system, turns = "", messages
    if messages and messages[0].role in ("system", "developer"):
        system, turns = messages[0].content, messages[1:]
    out = [BOS, _developer_turn(system, tools)]
    previous = ""  # "tool_call" or "tool_response": the model turn is still open
    for index in range(len(turns)):
        text, previous = _turn(turns, index, previous)
        out.append(text)
    return "".join(out) + ("" if previous == "tool_response" else "<start_of_turn>model\n")


def _turn(turns: list[Message], index: int, previous: str) -> tuple[str, str]:
    """The text of the turn at ``index`` and what it leaves open."""
    message = turns[index]
    if message.role == "tool":
        opening = "" if previous == "tool_call" else "<start_function_response>"
        name = _result_name(turns, index)
        text = f"response:{name}{{{value_text(message.content)}}}<end_function_response>"
        return opening + text, "tool_response"
    if message.role not in ("assistant", "user"):  # other roles leave the state as it was
        return f"<start_of_turn>{message.role}\n{message.content.strip()}<end_of_turn>\n", previous
    role = "model" if message.role == "assistant" else "user"
    text = "" if previous == "tool_response" else f"<start_of_turn>{role}\n"
    if message.role == "user":
        return text + message.content.strip() + "<end_of_turn>\n", ""
    text += message.content.strip() + "".join(
        _call(call.name, call.arguments) for call in message.tool_calls
    )
    answered = index + 1 < len(turns) and turns[index + 1].role == "tool"
    if message.tool_calls and answered:
        return text + "<start_function_response>", "tool_call"
    return text + "<end_of_turn>\n", ""
