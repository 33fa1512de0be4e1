"""Cohere's renderer: ``cohere`` (Ollama's ``cohere.go``), for Command A / North models.

One platform system turn opens the prompt: the first system message, then an
``# Available Tools`` JSON list (written even when empty). Bodies sit in
``<|START_TEXT|>…<|END_TEXT|>``, reasoning in ``<|START_THINKING|>``, calls in an
``<|START_ACTION|>`` JSON array and results in ``<|START_TOOL_RESULT|>``. Call ids are
renumbered ``0, 1, …`` across the conversation (the template's ``regen_tool_call_ids``)
and each result names the number of the call it answers. The whitespace inside those
blocks is the Jinja template's, which Ollama reproduces. No ``<BOS_TOKEN>`` is written:
Cohere's tokenizer puts it first (Ollama names it as the renderer's leading BOS only to
strip it, and it is never there to strip).
"""

from __future__ import annotations

from builder.templates.renderers.values import Message, Struct, go_json, with_spaces
from builder.templates.thinking import Think, thinks

_SYSTEM = "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>"
_CHATBOT = "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>"
_END = "<|END_OF_TURN_TOKEN|>"


def _spaced(value: object) -> str:
    return with_spaces(go_json(value))


def _tool_entry(tool: Struct) -> str:
    function = tool["function"]
    return (
        f'{{"name": {go_json(function["name"])}, '
        f'"description": {go_json(function.get("description", ""))}, '
        f'"parameters": {_spaced(function["parameters"])}, "responses": null}}'
    )


def _tools_section(tools: list[Struct]) -> str:
    entries = [f"\n    {_tool_entry(tool)}" for tool in tools]
    listed = ",\n\n".join(entries) + "\n\n" if tools else "\n\n"
    return "# Available Tools\n```json\n[\n" + listed + "\n]\n```"


def _result(call_id: str, content: str) -> str:
    return (
        f'\n    {{\n        "tool_call_id": "{call_id}",\n        "results": {{\n\n'
        f'            \n            "0": {_spaced({"content": content})}'
        '\n\n        },\n        "is_error": null\n    }'
    )


class _CallIds:
    """Calls renumbered in order; a result finds its call's number by the client's id
    (or keeps the id it has when no call carried it)."""

    def __init__(self) -> None:
        self.count = 0
        self.by_id: dict[str, str] = {}

    def next(self, client_id: str) -> str:
        number = str(self.count)
        self.count += 1
        if client_id:
            self.by_id.setdefault(client_id, number)
        return number

    def of_result(self, message: Message) -> str:
        return self.by_id.get(message.tool_call_id, message.tool_call_id)


def _reasoning(message: Message) -> str:
    return f"<|START_THINKING|>{message.thinking}<|END_THINKING|>" if message.thinking else ""


def _action(message: Message, ids: _CallIds) -> str:
    calls = ",".join(
        f'\n\n    {{"tool_call_id": "{ids.next(call.id)}", "tool_name": "{call.name}", '
        f'"parameters": {_spaced(call.arguments)}}}'
        for call in message.tool_calls
    )
    return (
        f"{_CHATBOT}\n            \n                {_reasoning(message)}"
        f"<|START_ACTION|>[{calls}\n\n]<|END_ACTION|>{_END}"
    )


def render_cohere(messages: list[Message], tools: list[Struct], think: Think) -> str:
    """Ollama's ``CohereRenderer``: reasons unless ``think`` is false; a last assistant
    message without calls is left open, to be continued."""
    system, rest = "", messages
    if messages and messages[0].role.lower() == "system":
        system, rest = messages[0].content, messages[1:]
    out = [_SYSTEM, "<|START_TEXT|>", f"{system}\n\n\n\n" if system else ""]
    out += [_tools_section(tools), f"<|END_TEXT|>{_END}"]
    ids, index = _CallIds(), 0
    while index < len(rest):
        index = _turn(rest, index, ids, out)
    if rest and rest[-1].role.lower() in ("assistant", "chatbot") and not rest[-1].tool_calls:
        return "".join(out)  # a prefill: the model goes on with its text
    quiet = think is not None and not thinks(think)
    return "".join(out) + _CHATBOT + "<|START_THINKING|>" + ("<|END_THINKING|>" if quiet else "")


def _turn(rest: list[Message], index: int, ids: _CallIds, out: list[str]) -> int:
    """Writes the turn at ``index`` (a run of tool results as one) and returns the
    index of the next."""
    message, role = rest[index], rest[index].role.lower()
    if role in ("system", "user"):
        token = "<|SYSTEM_TOKEN|>" if role == "system" else "<|USER_TOKEN|>"
        out.append(
            f"<|START_OF_TURN_TOKEN|>{token}<|START_TEXT|>{message.content}<|END_TEXT|>{_END}"
        )
    elif role in ("assistant", "chatbot") and message.tool_calls:
        out.append(_action(message, ids))
    elif role in ("assistant", "chatbot"):
        last = index == len(rest) - 1
        closing = "" if last else f"<|END_TEXT|>{_END}"
        out.append(f"{_CHATBOT}{_reasoning(message)}<|START_TEXT|>{message.content}{closing}")
    elif role == "tool":
        end = index + 1
        while end < len(rest) and rest[end].role.lower() == "tool":
            end += 1
        results = ",".join(_result(ids.of_result(m), m.content) for m in rest[index:end])
        out.append(f"{_SYSTEM}<|START_TOOL_RESULT|>[{results}\n\n]<|END_TOOL_RESULT|>{_END}")
        return end
    return index + 1
