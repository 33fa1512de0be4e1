"""A parsed Go template -> Jinja source that renders the same text.

Decisions that make the output exact under the Hugging Face environment
(``trim_blocks`` and ``lstrip_blocks`` on):

- every Jinja tag is written ``{%+ … +%}``, which turns both options off for that tag,
  and Go's ``{{-``/``-}}`` trimming was already applied to the text by the lexer;
- text is written as it is, unless it holds ``{`` or a carriage return: then it becomes
  a string literal, so that Jinja neither lexes nor normalises it;
- Go variables live in one ``namespace()`` (``_ns``), each declaration in its own slot
  resolved here by Go's lexical scoping, so ``$x = …`` inside a ``range`` persists;
- the dot is tracked here as a Jinja expression (root, ``range`` element, ``with`` value);
- every printed value goes through ``go.print`` (Go's ``fmt.Sprint``), ranges through
  ``go.range`` (maps in key order), ``printf`` and ``json`` through ``go.printf`` and
  ``go.json``; conditions, ``and``/``or``/``not``, comparisons, ``len``, ``index`` and
  ``slice`` are plain Jinja, whose truth test matches Go's for the values templates see.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from builder.templates.go_parser import (
    Action,
    Branch,
    Chain,
    Command,
    Expr,
    Field,
    Function,
    Literal,
    LoopControl,
    Node,
    Pipe,
    Text,
    Variable,
)
from ladle.errors import TemplateError

_COMPARISONS = {"ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_HELPERS = {"print", "printf", "println", "json"}


def tag(statement: str) -> str:
    """A Jinja block tag immune to ``trim_blocks`` and ``lstrip_blocks``."""
    return f"{{%+ {statement} +%}}"


def literal(value: str | float | bool | None) -> str:
    """``value`` as a Jinja literal."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def text(value: str) -> str:
    """Template text, written so that Jinja outputs it unchanged."""
    if "{" in value or "\r" in value:
        return f"{{{{ {literal(value)} }}}}"
    return value


class JinjaWriter:
    """Writes the Jinja for a node list, with ``root`` as Go's ``$``."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.dot = root
        self.scopes: list[dict[str, str]] = [{}]
        self.counter = 0

    def nodes(self, nodes: Sequence[Node]) -> str:
        return "".join(self.node(node) for node in nodes)

    def node(self, node: Node) -> str:
        if isinstance(node, Text):
            return text(node.text)
        if isinstance(node, LoopControl):
            return tag(node.keyword)
        if isinstance(node, Action):
            return self.action(node)
        return {"if": self.branch_if, "with": self.branch_with, "range": self.branch_range}[
            node.keyword
        ](node)

    # -- statements

    def action(self, node: Action) -> str:
        if node.pipe.variables:
            return self.declare(node.pipe)
        args = node.pipe.commands[0].args
        constant = args[0].value if isinstance(args[0], Literal) else None
        if len(node.pipe.commands) == len(args) == 1 and isinstance(constant, str):
            return text(constant)  # a string constant is plain text
        return f"{{{{ go.print({self.pipe(node.pipe)}) }}}}"

    def declare(self, pipe: Pipe) -> str:
        """``$x := pipe`` or ``$x = pipe``: set the variable's slot, print nothing."""
        value = self.pipe(pipe)
        name = pipe.variables[0]
        slot = self.lookup(name, pipe) if pipe.assign else self.new_slot(name)
        return tag(f"set _ns.{slot} = {value}")

    def scoped(self, build: Callable[[], str]) -> str:
        self.scopes.append({})
        try:
            return build()
        finally:
            self.scopes.pop()

    def branch_if(self, node: Branch) -> str:
        def build() -> str:
            prefix, condition = self.condition(node.pipe)
            body, orelse = self.scoped(lambda: self.nodes(node.body)), self.else_part(node)
            return prefix + tag(f"if {condition}") + body + orelse + tag("endif")

        return self.scoped(build)

    def condition(self, pipe: Pipe) -> tuple[str, str]:
        """The tags that declare the pipeline's variable (if any), and its value."""
        if not pipe.variables:
            return "", self.pipe(pipe)
        declaration = self.declare(pipe)
        return declaration, "_ns." + self.lookup(pipe.variables[0], pipe)

    def else_part(self, node: Branch) -> str:
        if not node.orelse:
            return ""
        return tag("else") + self.scoped(lambda: self.nodes(node.orelse))

    def branch_with(self, node: Branch) -> str:
        def build() -> str:
            name = self.fresh("_w")
            prefix, value = self.condition(node.pipe)
            opening = tag(f"with {name} = {value}") + tag(f"if {name}")
            body = self.with_dot(name, lambda: self.scoped(lambda: self.nodes(node.body)))
            return prefix + opening + body + self.else_part(node) + tag("endif") + tag("endwith")

        return self.scoped(build)

    def branch_range(self, node: Branch) -> str:
        def build() -> str:
            key, value = self.fresh("_k"), self.fresh("_v")
            opening = tag(f"for {key}, {value} in go.range({self.pipe(node.pipe)})")
            sets = [key, value][-len(node.pipe.variables) :] if node.pipe.variables else []
            for name, source in zip(node.pipe.variables, sets, strict=True):
                opening += tag(f"set _ns.{self.new_slot(name)} = {source}")
            body = self.with_dot(value, lambda: self.scoped(lambda: self.nodes(node.body)))
            return opening + body + self.else_part(node) + tag("endfor")

        return self.scoped(build)

    def with_dot(self, dot: str, build: Callable[[], str]) -> str:
        saved, self.dot = self.dot, dot
        try:
            return build()
        finally:
            self.dot = saved

    # -- variables

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def new_slot(self, name: str) -> str:
        slot = self.fresh("v") + "_" + (name[1:] or "root")
        self.scopes[-1][name] = slot
        return slot

    def lookup(self, name: str, where: Pipe | Variable) -> str:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        raise TemplateError(
            f"undefined variable {name}", line=where.pos.line, column=where.pos.column
        )

    # -- expressions

    def pipe(self, pipe: Pipe) -> str:
        result: str | None = None
        for command in pipe.commands:
            result = self.command(command, result)
        assert result is not None  # the parser never builds an empty pipeline
        return result

    def command(self, command: Command, piped: str | None) -> str:
        first, rest = command.args[0], command.args[1:]
        if isinstance(first, Function):
            args = [self.operand(arg) for arg in rest] + ([piped] if piped is not None else [])
            return self.call(first, args)
        if rest or piped is not None:
            raise _error("only functions take arguments", command.args[-1])
        return self.operand(first)

    def operand(self, expr: Expr) -> str:
        if isinstance(expr, Field):
            return _access(self.dot, expr.names)
        if isinstance(expr, Variable):
            base = self.root if expr.name == "$" else f"_ns.{self.lookup(expr.name, expr)}"
            return _access(base, expr.names)
        if isinstance(expr, Literal):
            return literal(expr.value)
        if isinstance(expr, Chain):
            return _access(f"({self.pipe(expr.pipe)})", expr.names)
        raise _error(f"function {expr.name} called without arguments", expr)

    def call(self, function: Function, args: list[str]) -> str:
        name = function.name
        if name in _HELPERS:
            return f"go.{name}({', '.join(args)})"
        if name in {"and", "or"} and args:
            return "(" + f" {name} ".join(args) + ")"
        if name == "not" and len(args) == 1:
            return f"(not {args[0]})"
        if name == "eq" and len(args) >= 2:
            return "(" + " or ".join(f"{args[0]} == {other}" for other in args[1:]) + ")"
        if name in _COMPARISONS and len(args) == 2:
            return f"({args[0]} {_COMPARISONS[name]} {args[1]})"
        if name == "len" and len(args) == 1:
            return f"({args[0]}|length)"
        if name == "index" and args:
            return args[0] + "".join(f"[{key}]" for key in args[1:])
        if name == "slice" and 1 <= len(args) <= 3:
            return self.slice(function, args)
        if name in {*_COMPARISONS, "and", "or", "not", "eq", "len", "index", "slice"}:
            raise _error(f"wrong number of arguments for {name}", function)
        raise _error(f"function {name!r} is not supported", function)

    def slice(self, function: Function, args: list[str]) -> str:
        bounds = args[1:] + [""] * (3 - len(args))
        return f"{args[0]}[{bounds[0]}:{bounds[1]}]"


def _access(base: str, names: Sequence[str]) -> str:
    """``base.A`` for Go field names, ``base["key"]`` for other map keys."""
    for name in names:
        identifier = name.isidentifier() and name[0].isupper()
        base += f".{name}" if identifier else f"[{literal(name)}]"
    return base


def _error(message: str, expr: Expr) -> TemplateError:
    return TemplateError(message, line=expr.pos.line, column=expr.pos.column)
