"""Modelfile text -> syntax tree, through the Lark grammar in ``grammar/modelfile.lark``.

This is Ollama's ``ParseFile`` level: it accepts what Ollama's parser accepts (parameter
names included, unchecked) and raises :class:`~ladle.errors.ModelfileError` for syntax
errors, a bad MESSAGE role and a missing FROM. Lark's own exceptions are translated here,
and only here, into messages that say what is wrong in the user's terms.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from pathlib import Path

from lark import Lark, Token, Transformer, UnexpectedInput

from ladle.errors import Diagnostic, ModelfileError
from modelfile import nodes, source, tables
from modelfile.quoting import unquote


class _SyntaxProblemError(Exception):
    """A syntax problem found while building nodes; ``parse`` adds file and source."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message, self.line, self.column = message, line, column


def _span(first: Token, last: Token) -> nodes.Span:
    return nodes.Span(first.line or 1, first.column or 1, last.end_line or 1, last.end_column or 1)


def _after_blank(token: Token) -> nodes.Span:
    """The span of a name or role token without the blank it starts with."""
    line, column = token.line or 1, (token.column or 1) + 1
    return nodes.Span(line, column, line, token.end_column or column)


def _value(token: Token) -> tuple[str, nodes.Span]:
    """The unquoted value of a VALUE token and the span of its quoted text."""
    text = str(token)
    body = text.lstrip(" \t")
    column = (token.column or 1) + len(text) - len(body)
    line = token.line or 1
    span = nodes.Span(line, column, token.end_line or line, token.end_column or column)
    return unquote(body.rstrip(" \t")), span


class _ToNodes(Transformer[Token, list[nodes.Item]]):
    """One small method per grammar rule; each returns a node that keeps its position."""

    def start(self, children: list[nodes.Item | Token]) -> list[nodes.Item]:
        return [
            nodes.Comment(_span(child, child), str(child).rstrip(" \t"))
            if isinstance(child, Token)
            else child
            for child in children
        ]

    def _simple(self, kind: type[nodes.Instruction], children: list[Token]) -> nodes.Instruction:
        keyword, token = children
        value, value_span = _value(token)
        return kind(_span(keyword, token), value, value_span)

    def from_(self, children: list[Token]) -> nodes.Instruction:
        return self._simple(nodes.From, children)

    def template(self, children: list[Token]) -> nodes.Instruction:
        return self._simple(nodes.Template, children)

    def system(self, children: list[Token]) -> nodes.Instruction:
        return self._simple(nodes.System, children)

    def adapter(self, children: list[Token]) -> nodes.Instruction:
        return self._simple(nodes.Adapter, children)

    def license(self, children: list[Token]) -> nodes.Instruction:
        return self._simple(nodes.License, children)

    def requires(self, children: list[Token]) -> nodes.Instruction:
        return self._simple(nodes.Requires, children)

    def draft(self, children: list[Token]) -> nodes.Instruction:
        return self._simple(nodes.Draft, children)

    def renderer(self, children: list[Token]) -> nodes.Instruction:
        return self._simple(nodes.Renderer, children)

    def parser(self, children: list[Token]) -> nodes.Instruction:
        return self._simple(nodes.OutputParser, children)

    def parameter(self, children: list[Token]) -> nodes.Parameter:
        keyword, name, token = children
        value, value_span = _value(token)
        # Ollama quirk kept: "PARAMETER  x 1" (two blanks) is the empty name with value "x 1".
        return nodes.Parameter(
            _span(keyword, token), value, value_span, name[1:], _after_blank(name)
        )

    def message(self, children: list[Token]) -> nodes.Message:
        keyword, role_token, token = children
        role = role_token[1:]
        role_span = _after_blank(role_token)
        if role not in nodes.ROLES:
            hint = f" (roles are lower-case: {role.lower()})" if role.lower() in nodes.ROLES else ""
            raise _SyntaxProblemError(
                f"message role must be system, user or assistant, not {role!r}{hint}",
                role_span.line,
                role_span.column,
            )
        value, value_span = _value(token)
        return nodes.Message(_span(keyword, token), value, value_span, role, role_span)


@functools.cache
def grammar_parser() -> Lark:
    """The Lark parser for Modelfiles, built once (LALR, contextual lexer, inline transform)."""
    return tables.build_parser(_ToNodes())


def parse(text: str | bytes, path: str | None = None) -> nodes.Modelfile:
    """Parse Modelfile text (or bytes, decoded as Ollama does) into a syntax tree."""
    if isinstance(text, bytes):
        text = source.decode(text, path)
    text = source.prepare(text, path)
    try:
        items: list[nodes.Item] = grammar_parser().parse(text)  # type: ignore[assignment]
    except _SyntaxProblemError as problem:
        raise _error(problem.message, problem.line, problem.column, path, text) from None
    except UnexpectedInput as exc:
        message, line, column = _explain(exc, text)
        raise _error(message, line, column, path, text) from None
    modelfile = nodes.Modelfile(tuple(items), path, text)
    if not any(isinstance(item, nodes.From) for item in items):
        raise _error(
            "no FROM line: a Modelfile starts from a model, e.g. FROM smollm2:135m",
            1,
            1,
            path,
            text,
        )
    return modelfile


def parse_file(path: str | Path) -> nodes.Modelfile:
    """Read and parse a Modelfile; unreadable files are ``ModelfileError`` too."""
    name = str(path)
    try:
        with Path(path).open("rb") as handle:
            source.check_size(os.fstat(handle.fileno()).st_size, name)
            data = handle.read(source.MAX_MODELFILE_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ModelfileError(
            Diagnostic("error", f"cannot read file: {reason}", 1, 1, name)
        ) from None
    return parse(data, name)


def _error(message: str, line: int, column: int, path: str | None, text: str) -> ModelfileError:
    return ModelfileError(
        Diagnostic("error", message, line, column, path, source.source_line(text, line))
    )


_HEAD = re.compile(r"([ \t]*)([A-Za-z]*)")
_PARAM = re.compile(r"[ \t]([A-Za-z0-9_]*)")
_ROLE = re.compile(r"[ \t]([A-Za-z]*)")
_BLANK = " \t"


def _explain(exc: UnexpectedInput, text: str) -> tuple[str, int, int]:
    """Say in the user's terms why the line holding ``exc``'s position does not parse.

    The grammar fails only at the start of an instruction's parts (keyword, name or role,
    value), so the reason can be read off that line (and, for a quoted value, the text
    after it).
    """
    line = exc.line if isinstance(exc.line, int) and exc.line > 0 else text.count("\n") + 1
    row = source.source_line(text, line) or ""
    head = _HEAD.match(row)
    assert head is not None  # the pattern matches every string
    indent, word = head.groups()
    rest = row[head.end() :]
    keyword = word.upper()
    if keyword in nodes.KEYWORDS and rest.startswith('"'):
        return f"{keyword} needs a blank before its value", line, head.end() + 1
    if keyword not in nodes.KEYWORDS or (rest and rest[0] not in _BLANK):
        return _unknown_instruction(row, len(indent)), line, len(indent) + 1
    value = _Value(text, line, head.end() + 1)
    if not rest.strip(_BLANK) and keyword not in ("PARAMETER", "MESSAGE"):
        return f"{keyword} needs a value", line, value.column
    if keyword == "PARAMETER":
        return _explain_parameter(rest, value)
    if keyword == "MESSAGE":
        return _explain_message(rest, value)
    return value.explain(rest, keyword)


def _unknown_instruction(row: str, start: int) -> str:
    token = row[start:].split(None, 1)[0] if row[start:].strip() else ""
    if not token:
        return "expected an instruction"
    guess = difflib.get_close_matches(token.upper()[:20], nodes.KEYWORDS, n=1, cutoff=0.6)
    hint = f"; did you mean {guess[0]}?" if guess else ""
    known = ", ".join(nodes.KEYWORDS)
    shown = token if len(token) <= 40 else token[:40] + "…"
    return f"unknown instruction {shown!r}{hint} (instructions: {known})"


class _Value:
    """Where the part after a keyword starts, for explaining why it does not parse."""

    def __init__(self, text: str, line: int, column: int) -> None:
        self.text, self.line, self.column = text, line, column

    def moved(self, columns: int) -> _Value:
        return _Value(self.text, self.line, self.column + columns)

    def explain(self, rest: str, what: str) -> tuple[str, int, int]:
        """Why the value in ``rest`` (which starts at this position) does not parse."""
        body = rest.lstrip(_BLANK)
        column = self.column + len(rest) - len(body)
        if not body.startswith('"'):
            return f"cannot read the {what} value", self.line, column
        quote = '"""' if body.startswith('"""') else '"'
        opening = self._offset(column)
        close = self.text.find(quote, opening + len(quote))
        if close != -1:
            after = close + len(quote)
            trailing = re.match(r"[ \t]*", self.text[after:])
            assert trailing is not None  # the pattern matches every string
            line, col = source.line_and_column(self.text, after + trailing.end())
            return (
                f"text after the closing {quote} of the {what} value; a quoted value must end "
                "its line (quote the whole value, or write it without quotes)",
                line,
                col,
            )
        return (
            f"unterminated {quote} string in the {what} value: no closing {quote} "
            "at the end of a line",
            self.line,
            column,
        )

    def _offset(self, column: int) -> int:
        start = 0
        for _ in range(self.line - 1):
            start = self.text.index("\n", start) + 1
        return start + column - 1


def _explain_parameter(rest: str, value: _Value) -> tuple[str, int, int]:
    line, column = value.line, value.column
    name = _PARAM.match(rest)
    if name is None:
        return "PARAMETER needs a name and a value, e.g. PARAMETER temperature 0.7", line, column
    after = rest[name.end() :]
    where = column + name.end()
    if not after.strip(_BLANK):
        what = f"PARAMETER {name.group(1)}" if name.group(1) else "PARAMETER"
        return f"{what} needs a value, e.g. PARAMETER temperature 0.7", line, where
    if after[0] not in _BLANK:
        bad = name.group(1) + after.split(None, 1)[0]
        return f"parameter name {bad!r} may hold only letters, digits and '_'", line, column + 1
    return value.moved(name.end()).explain(after, f"PARAMETER {name.group(1)}")


def _explain_message(rest: str, value: _Value) -> tuple[str, int, int]:
    line, column = value.line, value.column
    role = _ROLE.match(rest)
    example = "e.g. MESSAGE user Hello"
    if role is None or not role.group(1):
        return (
            f"MESSAGE needs one blank, then a role (system, user or assistant), {example}",
            line,
            column + (1 if role else 0),
        )
    after = rest[role.end() :]
    where = column + role.end()
    if not after.strip(_BLANK):
        return f"MESSAGE {role.group(1)} needs content, {example}", line, where
    if after[0] not in _BLANK:
        bad = role.group(1) + after.split(None, 1)[0]
        return f"message role must be system, user or assistant, not {bad!r}", line, column + 1
    return value.moved(role.end()).explain(after, f"MESSAGE {role.group(1)}")
