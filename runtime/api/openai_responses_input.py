"""The Responses API's ``input`` items and ``tools`` as the conversation and the function
list :class:`~runtime.api.service.Service` renders (``/api/chat``'s messages and tools).

==========================================  ==============================================
item                                        turn
==========================================  ==============================================
``{"role", "content"}`` / ``"message"``     a turn of its role (``developer`` is
                                            ``system``); its text parts joined
``function_call``                           an assistant turn's ``tool_calls`` (joining the
                                            assistant turn just before it, as one answer's
                                            message and calls belong together)
``function_call_output``                    a ``tool`` turn, with the call's
                                            ``tool_call_id`` and ``tool_name``
``reasoning``                               the next assistant turn's ``thinking`` (its
                                            ``reasoning_text`` content, else its
                                            ``encrypted_content``, which ladle writes as
                                            plain text, else its summary)
==========================================  ==============================================

Every other item, content part or tool type is refused with an
:class:`~ladle.errors.InvalidFieldError` naming where it is (``input.3.type``), never
skipped: files because ladle's runner reads none, images outside a user message (a
user message's ``input_image`` data URLs are its ``images``; a remote URL is refused,
since ladle fetches nothing), hosted tools
(``web_search``, ``file_search``…) because ladle runs none. A ``function_call_output``
must answer a ``function_call`` of the conversation, as OpenAI requires. A
``namespace`` tool's functions are shown to the model as ``namespace.name`` (a call of
one is answered with its ``namespace`` apart: :func:`namespaced`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ladle.errors import InvalidFieldError

ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
"""The message roles of the Responses API, and the template's role for each."""
TOOL_KEYS = frozenset({"type", "name", "description", "parameters", "strict"})
"""The fields of a function tool (``strict`` is read by :func:`chat_tools`)."""
NAMESPACE_KEYS = frozenset({"type", "name", "description", "tools"})

Item = dict[str, Any]


@dataclass
class _Turns:
    """The conversation being built, and reasoning waiting for its assistant turn."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    thinking: str = ""

    def add(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    def assistant(self, *, join: bool) -> dict[str, Any]:
        """The assistant turn to write into: the last one when ``join`` and it is one,
        else a new one; reasoning read before it becomes its ``thinking``."""
        last = self.messages[-1] if self.messages else None
        if not (join and last is not None and last["role"] == "assistant"):
            last = {"role": "assistant", "content": ""}
            self.messages.append(last)
        if self.thinking:
            last["thinking"] = last.get("thinking", "") + self.thinking
            self.thinking = ""
        return last

    def call_name(self, call_id: str) -> str | None:
        """The function the call ``call_id`` of an assistant turn called."""
        for message in reversed(self.messages):
            for call in message.get("tool_calls", ()):
                if call["id"] == call_id:
                    name: str = call["function"]["name"]
                    return name
        return None

    def finished(self) -> list[dict[str, Any]]:
        """The messages; reasoning with no turn after it becomes an assistant turn."""
        if self.thinking:
            self.assistant(join=False)
        return self.messages


def conversation(items: Sequence[Any]) -> list[dict[str, Any]]:
    """The messages of Responses ``items`` (each checked; ``input.N`` names the N-th)."""
    turns = _Turns()
    for number, item in enumerate(items):
        where = f"input.{number}"
        if not isinstance(item, dict):
            raise InvalidFieldError(where, "an input item must be an object")
        kind = item.get("type") or ("message" if "role" in item else None)
        read = _READERS.get(kind) if isinstance(kind, str) else None
        if read is None:
            known = ", ".join(_READERS)
            raise InvalidFieldError(f"{where}.type", f"must be one of {known}, not {kind!r}")
        read(turns, item, where)
    return turns.finished()


def chat_tools(tools: Sequence[Any] | None) -> list[dict[str, Any]] | None:
    """Responses' flat function tools (``{"type": "function", "name", "parameters"}``)
    as the nested ones templates and :mod:`runtime.api.tool_choice` take; a
    ``namespace`` tool's functions each as ``namespace.name``."""
    if not tools:
        return None
    chat: list[dict[str, Any]] = []
    for number, tool in enumerate(tools):
        where = f"tools.{number}"
        if isinstance(tool, dict) and tool.get("type") == "namespace":
            chat += _namespace(tool, where)
        else:
            chat.append(_chat_tool(tool, where))
    return chat


def namespaced(tools: Sequence[Any] | None) -> dict[str, tuple[str, str]]:
    """The functions of ``namespace`` tools by the name the model calls them
    (``namespace.name``): each one's namespace and own name (checked by
    :func:`chat_tools`)."""
    return {
        f"{tool['name']}.{member['name']}": (tool["name"], member["name"])
        for tool in tools or ()
        if isinstance(tool, dict) and tool.get("type") == "namespace"
        for member in tool.get("tools") or ()
        if isinstance(member, dict)
    }


# -- items -----------------------------------------------------------------------


def _message(turns: _Turns, item: Item, where: str) -> None:
    role = item.get("role")
    if role not in ROLES:
        raise InvalidFieldError(f"{where}.role", f"must be one of {', '.join(ROLES)}")
    user = ROLES[role] == "user"
    skip = frozenset({"input_image"}) if user else frozenset()
    text = _text(item.get("content"), f"{where}.content", skip)
    if ROLES[role] != "assistant":
        images = _images(item.get("content"), f"{where}.content") if user else []
        turns.add({"role": ROLES[role], "content": text} | ({"images": images} if images else {}))
        return
    last = turns.messages[-1] if turns.messages else None
    # A message replayed after its own calls (before their outputs) is the same answer.
    turn = turns.assistant(join=last is not None and "tool_calls" in last)
    turn["content"] = "\n".join(part for part in (turn["content"], text) if part)


def _function_call(turns: _Turns, item: Item, where: str) -> None:
    call_id, name = _string(item, "call_id", where), _string(item, "name", where)
    if item.get("namespace") is not None:  # a namespace tool's function, as named to the model
        name = f"{_string(item, 'namespace', where)}.{name}"
    arguments = _arguments(item.get("arguments", "{}"), f"{where}.arguments")
    call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    turns.assistant(join=True).setdefault("tool_calls", []).append(call)


def _function_call_output(turns: _Turns, item: Item, where: str) -> None:
    call_id = _string(item, "call_id", where)
    name = turns.call_name(call_id)
    if name is None:
        raise InvalidFieldError(
            f"{where}.call_id", f"no function_call with call_id {call_id!r} comes before it"
        )
    output = _text(item.get("output"), f"{where}.output")
    turns.add({"role": "tool", "content": output, "tool_call_id": call_id, "tool_name": name})


def _reasoning(turns: _Turns, item: Item, where: str) -> None:
    content = _parts(item.get("content"), f"{where}.content", {"reasoning_text": "text"})
    summary = _parts(item.get("summary"), f"{where}.summary", {"summary_text": "text"})
    encrypted = item.get("encrypted_content")
    if encrypted is not None and not isinstance(encrypted, str):
        raise InvalidFieldError(f"{where}.encrypted_content", "must be a string")
    turns.thinking += content or encrypted or summary


_READERS: dict[str, Callable[[_Turns, Item, str], None]] = {
    "message": _message,
    "function_call": _function_call,
    "function_call_output": _function_call_output,
    "reasoning": _reasoning,
}


# -- values ----------------------------------------------------------------------

TEXT_PARTS = {"input_text": "text", "output_text": "text", "refusal": "refusal"}
"""A message's text parts, and the field that holds each one's text."""


def _text(content: Any, where: str, skip: frozenset[str] = frozenset()) -> str:
    """A message's (or a call output's) content: a string, or its text parts joined
    (parts of a type in ``skip`` are read elsewhere)."""
    if isinstance(content, str):
        return content
    if content is None:
        raise InvalidFieldError(where, "is required: a string or a list of content parts")
    return _parts(content, where, TEXT_PARTS, skip)


def _images(content: Any, where: str) -> list[str]:
    """A user message's ``input_image`` parts: their data URLs (runtime.api.vision decodes
    them); ladle fetches nothing, so a remote URL or a ``file_id`` is refused."""
    if not isinstance(content, list):
        return []
    images = []
    for number, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") != "input_image":
            continue
        url = part.get("image_url")
        if not isinstance(url, str) or not url.startswith("data:"):
            raise InvalidFieldError(
                f"{where}.{number}.image_url", "ladle fetches no remote images: send a data URL"
            )
        images.append(url)
    return images


def _parts(
    parts: Any, where: str, kinds: dict[str, str], skip: frozenset[str] = frozenset()
) -> str:
    """The text of ``parts`` (a list of ``{"type", <text field>}``), each of a type in
    ``kinds`` or ``skip`` (passed over); none given is ""."""
    if parts is None:
        return ""
    if not isinstance(parts, list):
        raise InvalidFieldError(where, "must be a list of content parts")
    texts = []
    for number, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in skip:
            continue
        if kind not in kinds:
            raise InvalidFieldError(f"{where}.{number}.type", _part_refusal(kind, kinds))
        text = part.get(kinds[kind])
        if not isinstance(text, str):
            raise InvalidFieldError(f"{where}.{number}.{kinds[kind]}", "must be a string")
        texts.append(text)
    return "".join(texts)


def _part_refusal(kind: Any, kinds: dict[str, str]) -> str:
    if kind == "input_image":
        return "only a user message may hold images"
    if kind == "input_file":
        return "ladle's runner cannot read files yet"
    return f"must be one of {', '.join(kinds)}, not {kind!r}"


def _string(item: Item, key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidFieldError(f"{where}.{key}", "must be a non-empty string")
    return value


def _arguments(arguments: Any, where: str) -> dict[str, Any]:
    """A call's ``arguments`` (a JSON string of an object) decoded, as templates take them."""
    try:
        decoded = json.loads(arguments) if isinstance(arguments, str) else None
    except json.JSONDecodeError:
        decoded = None
    if not isinstance(decoded, dict):
        raise InvalidFieldError(where, "must be a JSON string of an object")
    return decoded


def _namespace(tool: Item, where: str) -> list[dict[str, Any]]:
    """A ``namespace`` tool's functions, each named ``namespace.name``, as OpenAI groups
    a domain's functions (Codex sends its sub-agent tools so)."""
    if unknown := sorted(set(tool) - NAMESPACE_KEYS):
        raise InvalidFieldError(f"{where}.{unknown[0]}", "is not a field of a namespace tool")
    name, members = _string(tool, "name", where), tool.get("tools")
    if not isinstance(members, list) or not members:
        raise InvalidFieldError(f"{where}.tools", "must be a list of function tools")
    functions = [_chat_tool(member, f"{where}.tools.{n}") for n, member in enumerate(members)]
    for function in functions:
        function["function"]["name"] = f"{name}.{function['function']['name']}"
    return functions


def _chat_tool(tool: Any, where: str) -> dict[str, Any]:
    if not isinstance(tool, dict):
        raise InvalidFieldError(where, "a tool must be an object")
    if tool.get("type") != "function":
        kind = tool.get("type")
        raise InvalidFieldError(
            f"{where}.type", f"ladle runs no {kind!r} tool: it takes function and namespace tools"
        )
    if unknown := sorted(set(tool) - TOOL_KEYS):
        raise InvalidFieldError(f"{where}.{unknown[0]}", "is not a field of a function tool")
    function: dict[str, Any] = {"name": _string(tool, "name", where)}
    description, parameters = tool.get("description"), tool.get("parameters")
    if description is not None and not isinstance(description, str):
        raise InvalidFieldError(f"{where}.description", "must be a string")
    if parameters is not None and not isinstance(parameters, dict):
        raise InvalidFieldError(f"{where}.parameters", "must be a JSON schema (an object)")
    if not isinstance(tool.get("strict", False), bool | None):
        raise InvalidFieldError(f"{where}.strict", "must be a boolean")
    if description:
        function["description"] = description
    if parameters is not None:
        function["parameters"] = parameters
    return {"type": "function", "function": function}
