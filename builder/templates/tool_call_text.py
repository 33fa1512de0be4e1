# DeepSeek spells its special tokens with fullwidth bars (U+FF5C) and lower blocks (U+2581).
# ruff: noqa: RUF001, RUF002
"""Tool calls in Python syntax and in DeepSeek's call tokens, read back.

===========  =====================================================================
format       what the model writes
===========  =====================================================================
pythonic     ``<|tool_call_start|>[name(key="value", n=1), …]<|tool_call_end|>``
             (LFM2), the list's brackets optional
olmo3        ``<function_calls>name(key="value")`` one call a line
             ``</function_calls>`` (Olmo 3)
deepseek3    ``<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>name<｜tool▁sep｜>{json}
             <｜tool▁call▁end｜>…<｜tool▁calls▁end｜>`` (DeepSeek-V3.1)
cogito       the same tokens, each call ``function<｜tool▁sep｜>name`` then its
             arguments in a fenced ````json`` block (Cogito)
cohere       ``<|START_ACTION|>[{"tool_call_id": "0", "tool_name": name,
             "parameters": {…}}, …]<|END_ACTION|>`` (Command A, North)
===========  =====================================================================

Python-style arguments are Python literals (strings in either quotes, ``True``,
``None``, lists, dicts); the JSON spellings ``true``, ``false`` and ``null`` are read
too, and a bare word that is no literal is taken as text, as Ollama's parsers take it.
A closing marker missing at the very end of the reply is tolerated, as for Hermes.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any, ClassVar

from builder.templates.tool_call_xml import json_call
from builder.templates.tool_calls import CallLayout, ToolCall, ToolCallParser, partial_marker

_JSON_NAMES = {"true": True, "false": False, "null": None}


def python_calls(text: str) -> list[ToolCall] | None:
    """The calls of ``name(k=v, …)`` expressions, in a list or separated by commas or
    lines; ``None`` unless the whole text is calls."""
    text = text.strip()
    if not text:
        return None
    try:
        tree = ast.parse(text if text.startswith("[") else f"[{_joined_lines(text)}]", mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    items = tree.body.elts if isinstance(tree.body, ast.List) else [tree.body]
    calls = [_call(item) for item in items]
    return None if not calls or any(c is None for c in calls) else [c for c in calls if c]


def _joined_lines(text: str) -> str:
    """Calls one a line (Olmo 3) as one comma-separated sequence."""
    return ", ".join(line for line in text.splitlines() if line.strip())


def _call(node: ast.expr) -> ToolCall | None:
    if isinstance(node, ast.Dict):  # a JSON call object, as a forced call is written
        return json_call(json.dumps(_literal(node)))
    if not isinstance(node, ast.Call) or node.args:
        return None
    name = _dotted(node.func)
    if name is None or any(keyword.arg is None for keyword in node.keywords):
        return None
    arguments = {str(k.arg): _literal(k.value) for k in node.keywords}
    return ToolCall(name=name, arguments=arguments)


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _literal(node: ast.expr) -> Any:
    """A Python literal's value; JSON's names as JSON reads them; any other bare
    expression as its source text."""
    if isinstance(node, ast.Name) and node.id in _JSON_NAMES:
        return _JSON_NAMES[node.id]
    if isinstance(node, ast.List | ast.Tuple):
        return [_literal(item) for item in node.elts]
    if isinstance(node, ast.Dict):
        keys = [_literal(key) if key is not None else None for key in node.keys]
        return {str(key): _literal(value) for key, value in zip(keys, node.values, strict=True)}
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return ast.unparse(node)


class _Delimited(ToolCallParser):
    """Calls between ``marker`` and ``closing``; the closing may be cut off at the end.
    A forced call is written as a JSON call object in a Python list (which Python's
    syntax reads as well)."""

    closing = ""

    @property
    def tokens(self) -> tuple[str, ...]:
        """The markup the parser reads, which a runner must show (control tokens)."""
        return (self.marker, self.closing, *self.inner_tokens)

    inner_tokens: ClassVar[tuple[str, ...]] = ()

    def _read(self, text: str, start: int) -> tuple[list[ToolCall], int] | None:
        body = start + len(self.marker)
        close = text.find(self.closing, body)
        if close < 0:
            body_end = end = len(text)
            body_end -= partial_marker(text, self.closing)
        else:
            body_end, end = close, close + len(self.closing)
        calls = self._calls(text[body:body_end])
        return None if calls is None else (calls, end)

    def _calls(self, body: str) -> list[ToolCall] | None:
        return python_calls(body)


class PythonicParser(_Delimited):
    """``<|tool_call_start|>[name(k=v)]<|tool_call_end|>``, as LFM2 writes it."""

    format = "pythonic"
    marker = "<|tool_call_start|>"
    closing = "<|tool_call_end|>"
    layout = CallLayout(separator=", ", opening=marker + "[", closing="]" + closing)


class Olmo3Parser(_Delimited):
    """``<function_calls>name(k=v)\\n…</function_calls>``, as Olmo 3 writes it."""

    format = "olmo3"
    marker = "<function_calls>"
    closing = "</function_calls>"
    layout = CallLayout(separator=", ", opening=marker + "[", closing="]" + closing)


_CALL_BEGIN, _CALL_END = "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>"
_SEPARATOR = "<｜tool▁sep｜>"


class DeepSeek3Parser(_Delimited):
    """``<｜tool▁calls▁begin｜>`` and one ``<｜tool▁call▁begin｜>name<｜tool▁sep｜>{json}
    <｜tool▁call▁end｜>`` a call, as DeepSeek-V3.1 writes them."""

    format = "deepseek3"
    marker = "<｜tool▁calls▁begin｜>"
    closing = "<｜tool▁calls▁end｜>"
    # A forced call: a JSON call object where the name and separator would be.
    layout = CallLayout(before=_CALL_BEGIN, after=_CALL_END, opening=marker, closing=closing)
    inner_tokens = (_CALL_BEGIN, _SEPARATOR, _CALL_END)
    _CALL = re.compile(re.escape(_CALL_BEGIN) + r"(.*?)" + re.escape(_CALL_END), re.DOTALL)

    def _calls(self, body: str) -> list[ToolCall] | None:
        calls, position = [], 0
        for found in self._CALL.finditer(body):
            if body[position : found.start()].strip():
                return None
            head, separator, arguments = found.group(1).partition(_SEPARATOR)
            call = self._one(head, arguments) if separator else json_call(head)
            if call is None:
                return None
            calls.append(call)
            position = found.end()
        return calls or None

    def _one(self, head: str, arguments: str) -> ToolCall | None:
        """A call from the text before the separator and the text after it."""
        return _json_arguments(head.strip(), arguments.strip())


class CogitoParser(DeepSeek3Parser):
    """DeepSeek's call tokens with ``function<｜tool▁sep｜>name`` and a fenced JSON block."""

    format = "cogito"
    _FENCED = re.compile(r"(.*?)\n```json\n(.*?)\n```", re.DOTALL)

    def _one(self, head: str, arguments: str) -> ToolCall | None:
        fenced = self._FENCED.match(arguments)
        if fenced is None:
            return None
        return _json_arguments(fenced.group(1).strip(), fenced.group(2))


def _json_arguments(name: str, arguments: str) -> ToolCall | None:
    try:
        value = json.loads(arguments)
    except (ValueError, RecursionError):
        return None
    return ToolCall(name=name, arguments=value) if name and isinstance(value, dict) else None


class CohereActionParser(_Delimited):
    """``<|START_ACTION|>[{"tool_name": …, "parameters": {…}}, …]<|END_ACTION|>``, as
    Cohere's models write their calls. (Their answer's ``<|START_TEXT|>`` and
    ``<|END_TEXT|>`` are control tokens a runner does not show, so the text between
    them is the content.)"""

    format = "cohere"
    marker = "<|START_ACTION|>"
    closing = "<|END_ACTION|>"
    layout = CallLayout(
        separator=", ", opening=marker + "[", closing="]" + closing, arguments_key="parameters"
    )

    def _calls(self, body: str) -> list[ToolCall] | None:
        try:
            actions = json.loads(body)
        except (ValueError, RecursionError):
            return None
        actions = actions if isinstance(actions, list) else [actions]
        calls = [_action(action) for action in actions]
        return None if not calls or any(c is None for c in calls) else [c for c in calls if c]


def _action(action: Any) -> ToolCall | None:
    """One action object: its ``tool_name`` (or ``name``) and ``parameters``."""
    if not isinstance(action, dict):
        return None
    name = action.get("tool_name", action.get("name"))
    parameters = action.get("parameters", {})
    if not isinstance(name, str) or not name or not isinstance(parameters, dict):
        return None
    return ToolCall(name=name, arguments=parameters)
