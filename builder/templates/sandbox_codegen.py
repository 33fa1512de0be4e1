"""The Python that jinja2 writes for a sandboxed template, with the steps that make
values routed through the sandbox.

jinja2's sandbox already hands attribute lookups, calls and the operators it is told to
intercept to the environment. Three more ways to make a value do not pass through it
in jinja2's own code generator, so :class:`BoundedCodeGenerator` routes them:

- ``a ~ b`` (jinja2 writes ``str_join((a, b))``) becomes ``environment.join_text(...)``;
- list, tuple and dict literals (``[x, x, x]``, ``{'a': x}``) become
  ``environment.made_literal(...)``, which measures them (a literal holds few items but
  each may be big, and literals nest);
- every loop's iterable is wrapped in ``environment.guard_iter(...)`` (by
  :func:`guard_loops`, on the syntax tree), which looks at the clock as it iterates.

It also looks at the compile clock (:mod:`builder.templates.sandbox_compile`) every few
hundred syntax nodes, since writing the Python of a long template takes seconds.

Buffers (the text of a macro, a ``{% set %}`` block, a ``{% filter %}`` block) are
joined with ``environment.concat``, which jinja2 already calls, and output goes through
``environment.finalize``: the sandbox defines both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame

_CLOCK_EVERY = 256  # syntax nodes written between two looks at the compile clock


class BoundedCodeGenerator(CodeGenerator):
    """jinja2's code generator, with concatenation and literals made by the sandbox,
    looking at the compile clock (``check_compile_time``) as it goes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._visited = 0

    def visit(self, node: nodes.Node, *args: Any, **kwargs: Any) -> Any:
        self._visited += 1
        if self._visited % _CLOCK_EVERY == 0:
            check = getattr(self.environment, "check_compile_time", None)
            if check is not None:
                check()
        return super().visit(node, *args, **kwargs)

    def visit_Concat(  # noqa: N802 - jinja2's visitor names
        self, node: nodes.Concat, frame: Frame
    ) -> None:
        self.write("environment.join_text((")
        for part in node.nodes:
            self.visit(part, frame)
            self.write(", ")
        self.write("))")

    def visit_List(  # noqa: N802 - jinja2's visitor names
        self, node: nodes.List, frame: Frame
    ) -> None:
        self._literal(super().visit_List, node, frame)

    def visit_Dict(  # noqa: N802 - jinja2's visitor names
        self, node: nodes.Dict, frame: Frame
    ) -> None:
        self._literal(super().visit_Dict, node, frame)

    def visit_Tuple(  # noqa: N802 - jinja2's visitor names
        self, node: nodes.Tuple, frame: Frame
    ) -> None:
        if node.ctx == "store":  # an assignment target ({% for a, b in ... %})
            super().visit_Tuple(node, frame)
        else:
            self._literal(super().visit_Tuple, node, frame)

    def _literal(self, write: Callable[[Any, Frame], None], node: nodes.Expr, frame: Frame) -> None:
        self.write("environment.made_literal(")
        write(node, frame)
        self.write(")")


def guard_loops(tree: nodes.Template) -> nodes.Template:
    """``tree`` with every ``{% for %}`` iterable passed through ``guard_iter``."""
    for loop in tree.find_all(nodes.For):
        guard = nodes.EnvironmentAttribute("guard_iter", lineno=loop.lineno)
        loop.iter = nodes.Call(guard, [loop.iter], [], None, None, lineno=loop.lineno)
    return tree
