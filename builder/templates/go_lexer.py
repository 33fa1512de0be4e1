"""Go ``text/template`` source -> text pieces and action tokens, with line and column.

Trim markers are applied here, as Go does: ``{{- `` removes the white space (space, tab,
carriage return, newline) that ends the text before the action, `` -}}`` the white space
that starts the text after it. Comments (``{{/* … */}}``) produce no token at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ladle.errors import TemplateError

TokenKind = Literal[
    "text", "open", "close", "field", "variable", "identifier", "string", "char", "number",
    "declare", "assign", "pipe", "lparen", "rparen", "comma",
]  # fmt: skip

_SPACE = " \t\r\n"
_ACTION_TOKENS = re.compile(
    r"""
    (?P<space>[ \t\r\n]+)
  | (?P<declare>:=) | (?P<assign>=) | (?P<pipe>\|) | (?P<lparen>\() | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\\n]|\\.)+')
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F_]+|(?:\d[\d_]*)?\.?\d[\d_]*(?:[eE][-+]?\d+)?))
  | (?P<field>\.[A-Za-z_][A-Za-z0-9_]*|\.)
  | (?P<variable>\$[A-Za-z0-9_]*)
  | (?P<identifier>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    """One piece of the template: text between actions, or one token inside an action."""

    kind: TokenKind
    value: str
    line: int
    column: int


class _Cursor:
    """Offsets -> 1-based line and column in the template source."""

    def __init__(self, source: str) -> None:
        self.source = source

    def position(self, offset: int) -> tuple[int, int]:
        line = self.source.count("\n", 0, offset) + 1
        return line, offset - (self.source.rfind("\n", 0, offset) + 1) + 1

    def error(self, message: str, offset: int) -> TemplateError:
        line, column = self.position(offset)
        return TemplateError(message, line=line, column=column)


def tokenize(source: str) -> list[Token]:
    """Every text piece and action token of ``source``, trim markers applied."""
    cursor = _Cursor(source)
    tokens: list[Token] = []
    offset = 0
    trim_next_text = False
    while offset < len(source):
        start = source.find("{{", offset)
        text_end = len(source) if start < 0 else start
        trim_before = start >= 0 and source.startswith("{{-", start) and _spaced(source, start + 3)
        _add_text(tokens, cursor, offset, source[offset:text_end], trim_next_text, trim_before)
        if start < 0:
            break
        offset, trim_next_text = _action(tokens, cursor, start, trim_before)
    return tokens


def _spaced(source: str, offset: int) -> bool:
    return offset < len(source) and source[offset] in _SPACE


def _add_text(
    tokens: list[Token], cursor: _Cursor, offset: int, text: str, left: bool, right: bool
) -> None:
    if left:
        stripped = text.lstrip(_SPACE)
        offset += len(text) - len(stripped)
        text = stripped
    if right:
        text = text.rstrip(_SPACE)
    if text:
        tokens.append(Token("text", text, *cursor.position(offset)))


def _action(tokens: list[Token], cursor: _Cursor, start: int, trimmed: bool) -> tuple[int, bool]:
    """Tokenize the action at ``start``; return the offset after it and its right trim."""
    source = cursor.source
    offset = start + (3 if trimmed else 2)
    inner = offset + len(source[offset:]) - len(source[offset:].lstrip(_SPACE))
    if source.startswith("/*", inner):
        return _comment(cursor, start, inner)
    tokens.append(Token("open", "{{", *cursor.position(start)))
    while True:
        if source.startswith("-}}", offset) and source[offset - 1] in _SPACE:
            tokens.append(Token("close", "}}", *cursor.position(offset)))
            return offset + 3, True
        if source.startswith("}}", offset):
            tokens.append(Token("close", "}}", *cursor.position(offset)))
            return offset + 2, False
        match = _ACTION_TOKENS.match(source, offset)
        if match is None or offset >= len(source):
            raise cursor.error(_unexpected(source, offset), offset)
        _add_match(tokens, cursor, match)
        offset = match.end()


def _add_match(tokens: list[Token], cursor: _Cursor, match: re.Match[str]) -> None:
    kind = match.lastgroup or "space"
    if kind == "space":
        return
    if kind == "raw":
        kind = "string"
    tokens.append(Token(kind, match.group(), *cursor.position(match.start())))  # type: ignore[arg-type]


def _comment(cursor: _Cursor, start: int, inner: int) -> tuple[int, bool]:
    """Skip ``{{/* … */}}`` (with optional trim markers); Go allows nothing else in it."""
    source = cursor.source
    end = source.find("*/", inner + 2)
    if end < 0:
        raise cursor.error("unclosed comment", inner)
    after = end + 2
    if source.startswith(" -}}", after):
        return after + 4, True
    if source.startswith("}}", after):
        return after + 2, False
    raise cursor.error("comment ends before closing delimiter", after)


def _unexpected(source: str, offset: int) -> str:
    if offset >= len(source):
        return "unclosed action"
    return f"unexpected {source[offset]!r} in action"
