"""Go ``text/template`` tokens -> a small syntax tree that keeps positions.

The subset is what Ollama's templates use: text, actions, ``if``/``else if``/``else``,
``range`` (with ``$v :=`` and ``$i, $v :=``), ``with``, ``break``, ``continue``, variable
declaration and assignment, pipelines, parenthesised pipelines, fields, variables and
literals. ``define``, ``template`` and ``block`` raise :class:`TemplateError` with the
line and column of the keyword.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from builder.templates.go_lexer import Token, tokenize
from ladle.errors import TemplateError


@dataclass(frozen=True)
class Pos:
    """1-based line and column of a node's first token."""

    line: int
    column: int


# -- expressions -----------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """``.A.B``: fields of the dot (``names`` is empty for the dot itself)."""

    pos: Pos
    names: tuple[str, ...]


@dataclass(frozen=True)
class Variable:
    """``$x.A.B``; ``$`` alone is the root data."""

    pos: Pos
    name: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class Literal:
    """A string, number, character (as its code point), boolean or ``nil``."""

    pos: Pos
    value: str | int | float | bool | None


@dataclass(frozen=True)
class Function:
    """A function name, called with the rest of its command as arguments."""

    pos: Pos
    name: str


@dataclass(frozen=True)
class Chain:
    """``(pipeline).A.B``: a parenthesised pipeline, with fields after it."""

    pos: Pos
    pipe: Pipe
    names: tuple[str, ...]


Expr = Field | Variable | Literal | Function | Chain


@dataclass(frozen=True)
class Command:
    """One command of a pipeline: a value, or a function and its arguments."""

    pos: Pos
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Pipe:
    """``$a, $b := cmd | cmd``; ``assign`` marks ``=`` rather than ``:=``."""

    pos: Pos
    variables: tuple[str, ...]
    assign: bool
    commands: tuple[Command, ...]


# -- statements ------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    pos: Pos
    text: str


@dataclass(frozen=True)
class Action:
    """``{{ pipeline }}``: printed, unless it declares or assigns variables."""

    pos: Pos
    pipe: Pipe


@dataclass(frozen=True)
class Branch:
    """``if``, ``range`` or ``with``: a pipeline, a body and an optional else body."""

    pos: Pos
    keyword: str
    pipe: Pipe
    body: list[Node]
    orelse: list[Node] = field(default_factory=list)


@dataclass(frozen=True)
class LoopControl:
    """``{{ break }}`` or ``{{ continue }}``."""

    pos: Pos
    keyword: str


Node = Text | Action | Branch | LoopControl

_UNSUPPORTED = {"define", "template", "block"}
_CONSTANTS: dict[str, bool | None] = {"true": True, "false": False, "nil": None}


def parse(source: str) -> list[Node]:
    """The syntax tree of a Go template; raises :class:`TemplateError` on bad syntax."""
    return _Parser(tokenize(source)).document()


def _pos(token: Token) -> Pos:
    return Pos(token.line, token.column)


class _Parser:
    """Recursive descent over the token list; one method per construct."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.loops = 0

    # -- token helpers

    def peek(self, ahead: int = 0) -> Token | None:
        at = self.index + ahead
        return self.tokens[at] if at < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            last = self.tokens[-1]
            raise TemplateError("unexpected end of template", line=last.line, column=last.column)
        self.index += 1
        return token

    def expect(self, kind: str) -> Token:
        token = self.take()
        if token.kind != kind:
            raise _error(f"unexpected {token.value!r}", token)
        return token

    def keyword_ahead(self) -> Token | None:
        """The identifier that starts the next action, if the next token opens one."""
        opening, word = self.peek(), self.peek(1)
        if opening and opening.kind == "open" and word and word.kind == "identifier":
            return word
        return None

    # -- statements

    def document(self) -> list[Node]:
        nodes, stop = self.nodes()
        if stop is not None:
            raise _error(f"unexpected {{{{ {stop.value} }}}}", stop)
        return nodes

    def nodes(self) -> tuple[list[Node], Token | None]:
        """Nodes up to an ``end`` or ``else`` (returned, not consumed) or the end."""
        nodes: list[Node] = []
        while (token := self.peek()) is not None:
            word = self.keyword_ahead()
            if word is not None and word.value in {"end", "else"}:
                return nodes, word
            nodes.append(self.text(token) if token.kind == "text" else self.action())
        return nodes, None

    def text(self, token: Token) -> Text:
        self.index += 1
        return Text(_pos(token), token.value)

    def action(self) -> Node:
        opening = self.expect("open")
        word = self.keyword_ahead_inside()
        if word is None:
            pipe = self.pipe(_pos(opening))
            self.expect("close")
            return Action(_pos(opening), pipe)
        if word.value in _UNSUPPORTED:
            raise _error(f"{{{{ {word.value} }}}} is not supported", word)
        if word.value in {"break", "continue"}:
            return self.loop_control(word)
        return self.branch(word)

    def keyword_ahead_inside(self) -> Token | None:
        token = self.peek()
        keywords = {"if", "range", "with", "break", "continue", *_UNSUPPORTED}
        if token is not None and token.kind == "identifier" and token.value in keywords:
            return token
        return None

    def loop_control(self, word: Token) -> LoopControl:
        self.take()
        self.expect("close")
        if not self.loops:
            raise _error(f"{{{{ {word.value} }}}} outside {{{{ range }}}}", word)
        return LoopControl(_pos(word), word.value)

    def branch(self, word: Token) -> Branch:
        self.take()
        pipe = self.pipe(_pos(word), allow_declaration=True)
        self.expect("close")
        self.loops += word.value == "range"
        body, stop = self.nodes()
        self.loops -= word.value == "range"
        orelse = self.orelse(word, stop)
        return Branch(_pos(word), word.value, pipe, body, orelse)

    def orelse(self, word: Token, stop: Token | None) -> list[Node]:
        """After a body: ``{{ end }}``, ``{{ else }} … {{ end }}`` or ``{{ else if … }}``."""
        if stop is None:
            raise _error(f"{{{{ {word.value} }}}} without {{{{ end }}}}", word)
        self.expect("open")
        self.take()
        if stop.value == "end":
            self.expect("close")
            return []
        chained = self.peek()
        if chained is not None and chained.kind == "identifier" and chained.value == word.value:
            return [self.branch(chained)] if word.value != "range" else self.bad(chained)
        self.expect("close")
        orelse, end = self.nodes()
        if end is None or end.value != "end":
            raise _error(f"{{{{ {word.value} }}}} without {{{{ end }}}}", word)
        self.expect("open")
        self.take()
        self.expect("close")
        return orelse

    def bad(self, token: Token) -> list[Node]:
        raise _error(f"unexpected {token.value!r}", token)

    # -- pipelines

    def pipe(self, pos: Pos, allow_declaration: bool = True) -> Pipe:
        variables, assign = self.declaration() if allow_declaration else ((), False)
        commands = [self.command()]
        while (token := self.peek()) is not None and token.kind == "pipe":
            self.take()
            commands.append(self.command())
        return Pipe(pos, variables, assign, tuple(commands))

    def declaration(self) -> tuple[tuple[str, ...], bool]:
        """``$x :=``, ``$x =`` or ``$i, $v :=`` at the start of a pipeline, if present."""
        kinds = [token.kind for token in self.tokens[self.index : self.index + 4]]
        if kinds[:2] in (["variable", "declare"], ["variable", "assign"]):
            name, operator = self.take(), self.take()
            return (name.value,), operator.kind == "assign"
        if kinds == ["variable", "comma", "variable", "declare"]:
            first, _, second, _ = (self.take() for _ in range(4))
            return (first.value, second.value), False
        return (), False

    def command(self) -> Command:
        start = self.peek()
        args: list[Expr] = []
        while (token := self.peek()) is not None and token.kind not in {"pipe", "close", "rparen"}:
            args.append(self.operand())
        if start is None or not args:
            raise _error("missing value in pipeline", start or self.tokens[-1])
        return Command(_pos(start), tuple(args))

    def operand(self) -> Expr:
        token = self.take()
        pos = _pos(token)
        if token.kind == "field":
            return Field(pos, self.fields(_names(token.value)))
        if token.kind == "variable":
            return Variable(pos, token.value, self.fields(()))
        if token.kind == "lparen":
            pipe = self.pipe(pos, allow_declaration=False)
            self.expect("rparen")
            return Chain(pos, pipe, self.fields(()))
        if token.kind == "identifier":
            if token.value in _CONSTANTS:
                return Literal(pos, _CONSTANTS[token.value])
            return Function(pos, token.value)
        return Literal(pos, _literal(token))

    def fields(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """Field names that follow a term directly (``$x.A.B``, ``(…).A``)."""
        while (token := self.peek()) is not None and _chained(self.tokens[self.index - 1], token):
            names += _names(token.value)
            self.take()
        return names


def _chained(previous: Token, token: Token) -> bool:
    """``token`` is a field written right after ``previous``, with no space between."""
    adjacent = (token.line, token.column) == (previous.line, previous.column + len(previous.value))
    return adjacent and token.kind == "field" and token.value != "."


def _names(field_token: str) -> tuple[str, ...]:
    return tuple(name for name in field_token.split(".") if name)


def _literal(token: Token) -> str | int | float:
    """The value of a string, raw string, character or number token."""
    text = token.value
    try:
        if token.kind == "string":
            return text[1:-1] if text.startswith("`") else str(ast.literal_eval(text))
        if token.kind == "char":
            return ord(str(ast.literal_eval(text)))
        if token.kind == "number":
            cleaned = text.replace("_", "")
            is_int = cleaned.lower().startswith(("0x", "-0x", "+0x")) or not any(
                mark in cleaned for mark in ".eE"
            )
            return int(cleaned, 0) if is_int else float(cleaned)
    except (ValueError, SyntaxError, TypeError):
        pass
    raise _error(f"bad {token.kind} literal {text}", token)


def _error(message: str, token: Token) -> TemplateError:
    return TemplateError(message, line=token.line, column=token.column)
