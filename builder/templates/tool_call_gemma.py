"""Tool calls in Gemma's call notation, read back (Gemma 4 and FunctionGemma).

===============  ===================================================================
format           what the model writes
===============  ===================================================================
gemma4           ``<|tool_call>call:name{key:<|"|>text<|"|>,n:3}<tool_call|>``
functiongemma    ``<start_function_call>call:name{key:<escape>text<escape>}``
                 ``<end_function_call>``
===============  ===================================================================

The arguments are an object in Gemma's notation, which the renderers of the same names
write (:mod:`builder.templates.renderers.gemma4_tools`): strings between a delimiter
(``<|"|>``, or ``<escape>`` for FunctionGemma) and taken as they are (a backslash is a
backslash), keys bare, numbers, ``true``, ``false`` and ``null`` as in JSON, objects and
lists nested. A JSON string where a value belongs is read as JSON, a bare word as text.
A call whose arguments do not read stays in the content.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from builder.templates.tool_calls import (
    CallLayout,
    ToolCall,
    ToolCallParser,
    enclosed,
)

_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_KEY = re.compile(r"\s*([^\s:{}\[\],]+)\s*:")
_WORDS = {"true": True, "false": False, "null": None}
_DECODER = json.JSONDecoder()


class _Notation:
    """A reader of one value in Gemma's notation, from ``position`` of ``text``."""

    def __init__(self, text: str, delimiter: str) -> None:
        self.text, self.delimiter, self.position = text, delimiter, 0

    def value(self) -> Any:
        self._skip_space()
        text, at = self.text, self.position
        if text.startswith(self.delimiter, at):
            end = text.find(self.delimiter, at + len(self.delimiter))
            if end < 0:
                raise ValueError("an unclosed string")
            self.position = end + len(self.delimiter)
            return text[at + len(self.delimiter) : end]
        if text.startswith('"', at):  # a JSON string, which Gemma 4 writes now and then
            try:
                found, self.position = _DECODER.raw_decode(text, at)
            except ValueError as error:
                raise ValueError("an unreadable JSON string") from error
            return found
        if text.startswith("{", at):
            return self._object()
        if text.startswith("[", at):
            return self._list()
        return self._scalar()

    def _object(self) -> dict[str, Any]:
        self.position += 1
        found: dict[str, Any] = {}
        while not self._closes("}"):
            key = _KEY.match(self.text, self.position)
            if key is None:
                raise ValueError("a key without a value")
            self.position = key.end()
            found[key.group(1).strip('"')] = self.value()
            self._separator("}")
        return found

    def _list(self) -> list[Any]:
        self.position += 1
        found: list[Any] = []
        while not self._closes("]"):
            found.append(self.value())
            self._separator("]")
        return found

    def _scalar(self) -> Any:
        end = self.position
        while end < len(self.text) and self.text[end] not in ",}]":
            end += 1
        word = self.text[self.position : end].strip()
        self.position = end
        if not word:
            raise ValueError("a missing value")
        if word in _WORDS:
            return _WORDS[word]
        if _NUMBER.fullmatch(word):
            return json.loads(word)
        return word

    def _closes(self, bracket: str) -> bool:
        self._skip_space()
        if self.text.startswith(bracket, self.position):
            self.position += 1
            return True
        if self.position >= len(self.text):
            raise ValueError(f"a missing {bracket!r}")
        return False

    def _separator(self, bracket: str) -> None:
        self._skip_space()
        if self.text.startswith(",", self.position):
            self.position += 1
        elif not self.text.startswith(bracket, self.position):
            raise ValueError(f"no ',' or {bracket!r} after a value")

    def _skip_space(self) -> None:
        while self.position < len(self.text) and self.text[self.position].isspace():
            self.position += 1


def read_arguments(text: str, delimiter: str) -> dict[str, Any] | None:
    """The object ``text`` holds in Gemma's notation, or ``None`` if it holds none."""
    reader = _Notation(text.strip(), delimiter)
    try:
        found = reader.value()
    except (ValueError, RecursionError):  # nested past Python's depth
        return None
    whole = reader.position == len(reader.text)
    return found if whole and isinstance(found, dict) else None


class _GemmaCallParser(ToolCallParser):
    """``call:name{…}`` between the format's markers."""

    closing: ClassVar[str]
    delimiter: ClassVar[str]

    @property
    def tokens(self) -> tuple[str, ...]:
        """The markup the parser reads, which a runner must show (control tokens)."""
        return (self.marker, self.closing, self.delimiter)

    def _read(self, text: str, start: int) -> tuple[list[ToolCall], int] | None:
        body = start + len(self.marker)
        body_end, end = enclosed(text, body, self.closing)
        call = self._call(text[body:body_end].strip())
        return None if call is None else ([call], end)

    def _call(self, body: str) -> ToolCall | None:
        if not body.startswith("call:") or "{" not in body:
            return None
        name, brace, rest = body[len("call:") :].partition("{")
        arguments = read_arguments(brace + rest, self.delimiter)
        if not name.strip() or arguments is None:
            return _json_body(body)
        return ToolCall(name=name.strip(), arguments=arguments)


def _json_body(body: str) -> ToolCall | None:
    """A forced call's JSON object (``call:{"name": …, "arguments": …}``)."""
    try:
        value = json.loads(body.removeprefix("call:"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    arguments = value.get("arguments", {})
    return (
        ToolCall(name=value["name"], arguments=arguments) if isinstance(arguments, dict) else None
    )


class Gemma4CallParser(_GemmaCallParser):
    """``<|tool_call>call:name{…}<tool_call|>``, as Gemma 4 writes it."""

    format = "gemma4"
    marker = "<|tool_call>"
    closing = "<tool_call|>"
    delimiter = '<|"|>'
    # A forced call: a JSON call object after ``call:`` (a grammar's JSON schema cannot
    # describe Gemma's notation); _json_body reads it.
    layout = CallLayout(before=marker + "call:", after=closing)


class FunctionGemmaCallParser(_GemmaCallParser):
    """``<start_function_call>call:name{…}<end_function_call>``, as FunctionGemma writes."""

    format = "functiongemma"
    marker = "<start_function_call>"
    closing = "<end_function_call>"
    delimiter = "<escape>"
    layout = CallLayout(before=marker + "call:", after=closing)
