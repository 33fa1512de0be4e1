"""Modelfile text -> syntax tree, through the Lark grammar in ``grammar/modelfile.lark``.

This is Ollama's ``ParseFile`` level: it accepts what Ollama's parser accepts (parameter
names included, unchecked) and raises :class:`~ladle.errors.ModelfileError` for syntax
errors, a bad MESSAGE role and a missing FROM. Lark's own exceptions are caught here, and
only here, and turned by :mod:`modelfile.explain` into messages that say what is wrong in
the user's terms.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from lark import Lark, Token, Transformer, UnexpectedInput

from ladle.errors import Diagnostic, ModelfileError
from modelfile import nodes, source, tables
from modelfile.explain import explain
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
        message, line, column = explain(exc, text)
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
