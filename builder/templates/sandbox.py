"""The Jinja sandbox that chat templates render in, with a time limit and size caps.

:class:`TemplateSandbox` is jinja2's :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`
(no underscore attributes, no ``list.append`` / ``dict.update``, no attribute assignment)
plus the limits a server needs against a hostile TEMPLATE.

A render runs in a worker thread, but Python runs one thread at a time: one big-integer
power, or one join of a gigabyte, holds every thread (the server's event loop too) until
it ends, and nothing can stop it from outside. So every step is bounded *before* it
runs, which keeps each one short, and a deadline checked between steps always fires:

- a deadline, checked without tracing: at every attribute and item lookup, every call,
  every operator, every output chunk, and every 64 loop iterations; a render past 2 ms
  also lets waiting threads run every 2 ms (:meth:`_Budget.check_time`);
- a *value limit* on every value the template makes, by an operator, a filter, a call,
  ``~``, a literal, a macro or a block: printed, it is at most the output cap, or the
  size of the variables the template was given when that is larger (taking a
  conversation apart is not refused); the size model is
  :mod:`builder.templates.sandbox_sizes`. A result that a width, count or repeated
  argument decides (``*``, ``**``, ``%``, ``center``, ``replace``, ``join``...) is
  estimated and refused before any work (:mod:`builder.templates.sandbox_calls`);
  integers stop at 4096 bits and containers at 10,000 items (or as many as the
  widest variable holds);
- a cap on all a render prints, macros and ``{% set %}`` blocks included
  (:data:`PRINT_FACTOR` times the value limit), and on its output, checked on the
  output stream;
- ``range()`` stays capped by the sandbox's own ``MAX_RANGE``.

Filters are wrapped by :mod:`builder.templates.sandbox_filters`; what jinja2's code
generator would leave out of the sandbox's sight (``~``, literals, loops) is routed
through it by :mod:`builder.templates.sandbox_codegen`; and compiling is bounded in
length and time, with Python's compiler run in a child process for long templates
(:mod:`builder.templates.sandbox_compile`).

The deadline and value limit of the render in progress live in a
:class:`threading.local` on the environment, so one compiled template may render in
several threads at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.parser import Parser
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_environment

from builder.templates.sandbox_calls import Arguments, Estimate, estimate_for
from builder.templates.sandbox_codegen import BoundedCodeGenerator, guard_loops
from builder.templates.sandbox_compile import (
    YIELD_SECONDS,
    ClockedTokens,
    CompileClock,
    check_length,
    python_code,
)
from builder.templates.sandbox_filters import bounded_sum, guarded_filter
from builder.templates.sandbox_sizes import Bounds, Size, binop_size, check_int
from ladle.errors import TemplateError

#: Default wall-clock limit of one render, in seconds.
DEFAULT_RENDER_SECONDS = 2.0
#: Default cap on the characters one render may produce (1 MiB).
DEFAULT_MAX_OUTPUT_CHARS = 1 << 20
#: Default wall-clock limit of compiling one template, in seconds: the longest chat
#: templates in use (20 KB) compile in under a second even on a busy machine; this
#: bounds what a request's own ``template`` can cost.
DEFAULT_COMPILE_SECONDS = 10.0
#: The file name of a template's Python code: its traceback frames carry it, with the
#: template's own line numbers.
TEMPLATE_FILENAME = "<template>"
#: Loop iterations between two looks at the clock.
_CLOCK_EVERY = 64
#: How many times its value limit a render may print in all, counting what it prints
#: into macros and ``{% set %}`` blocks (a macro called once per message prints each
#: message twice: into the macro, then out).
PRINT_FACTOR = 8


@dataclass(frozen=True)
class RenderLimits:
    """How long one render may take and how much text it may produce, and how long
    compiling a template may take."""

    seconds: float = DEFAULT_RENDER_SECONDS
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS
    compile_seconds: float = DEFAULT_COMPILE_SECONDS


class _GenerationTag(Extension):
    """Hugging Face's ``{% generation %}…{% endgeneration %}`` marks assistant text for
    training masks; for rendering it is a pass-through."""

    tags = {"generation"}  # noqa: RUF012 - jinja2's Extension API declares it this way

    def parse(self, parser: Parser) -> list[nodes.Node]:
        next(parser.stream)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


def raise_exception(message: str) -> None:
    """The ``raise_exception`` global of Hugging Face templates: refuse the request."""
    raise TemplateError(f"the template refused the conversation: {message}")


def strftime_now(date_format: str) -> str:
    """The ``strftime_now`` global: the local time formatted with ``date_format``."""
    return datetime.now().strftime(date_format)


def tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    """The ``tojson`` filter as transformers defines it: plain :func:`json.dumps`, no
    HTML escaping, non-ASCII kept."""
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


@pass_environment
def _finalize(environment: TemplateSandbox, value: Any) -> Any:
    """What ``{{ value }}`` prints, measured before it is turned into text."""
    return environment.printed(value)


class _Budget:
    """The deadline, value limits and printing allowance of one render in progress."""

    def __init__(self, limits: RenderLimits, variables: Mapping[str, Any]) -> None:
        self.limits = limits
        self.bounds = Bounds(limits.max_output_chars, dict(variables))
        self.printed = 0
        self.deadline = time.monotonic() + limits.seconds
        self.next_yield = time.monotonic() + YIELD_SECONDS

    def count_printed(self, size: int) -> None:
        """Text printed into macros and blocks is held until they end: count it all."""
        self.printed += size
        bounds = self.bounds
        if self.printed > PRINT_FACTOR * bounds.chars and (
            not bounds.widen() or self.printed > PRINT_FACTOR * bounds.chars
        ):
            raise TemplateError(
                f"the template printed more than {PRINT_FACTOR * bounds.chars} characters "
                "in all (its macros and blocks included)"
            )

    def check_time(self) -> None:
        now = time.monotonic()
        if now > self.deadline:
            raise TemplateError(f"rendering took longer than {self.limits.seconds:g} s")
        if now > self.next_yield:
            # Hand the interpreter to any thread waiting for it (the server's event loop)
            # now, instead of when Python's 5 ms switch interval forces it: with several
            # long renders at once, the loop would otherwise wait its turn behind each.
            time.sleep(0)
            self.next_yield = now + YIELD_SECONDS

    def check_output(self, size: int) -> None:
        if size > self.limits.max_output_chars:
            limit = self.limits.max_output_chars
            raise TemplateError(f"the output would exceed {limit} characters")


class TemplateSandbox(ImmutableSandboxedEnvironment):
    """The environment every chat template compiles and renders in."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})
    code_generator_class = BoundedCodeGenerator

    def __init__(self, limits: RenderLimits) -> None:
        super().__init__(
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=[loopcontrols, _GenerationTag, ClockedTokens],
            finalize=_finalize,
        )
        self.limits = limits
        self._local = threading.local()
        self.globals["raise_exception"] = raise_exception
        self.globals["strftime_now"] = strftime_now
        self.filters["tojson"] = tojson
        self.filters["sum"] = bounded_sum
        self.filters = {name: guarded_filter(self, name, f) for name, f in self.filters.items()}

    # -- rendering ---------------------------------------------------------------------

    def render_limited(self, template: jinja2.Template, variables: Mapping[str, Any]) -> str:
        """Render within the limits; the chunks are counted as they are produced."""
        budget = _Budget(self.limits, variables)
        self._local.budget = budget
        try:
            parts: list[str] = []
            size = 0
            for chunk in template.generate(**variables):
                size += len(chunk)
                budget.check_output(size)
                budget.check_time()
                parts.append(chunk)
            return "".join(parts)
        finally:
            self._local.budget = None

    def _budget(self) -> _Budget | None:
        budget: _Budget | None = getattr(self._local, "budget", None)
        return budget

    def tick(self) -> None:
        """The render in progress in this thread, if any, is still within its time."""
        budget = self._budget()
        if budget is not None:
            budget.check_time()

    def _size(self, what: str) -> Size:
        """The measure of values against this render's bounds (the output cap outside a
        render: jinja2 folds some constants when it compiles)."""
        budget = self._budget()
        if budget is None:
            return Size(Bounds(self.limits.max_output_chars), what)
        return Size(budget.bounds, what, budget.check_time)

    # -- values the template makes -----------------------------------------------------

    def made(self, value: Any, what: str) -> None:
        """Refuse ``value``, just made, if it passes the value limit or integer cap."""
        if isinstance(value, str):
            if len(value) > self.limits.max_output_chars:  # else below any render's limit
                self._size(what).check(len(value))
        elif isinstance(value, int):
            check_int(value, what)
        elif not isinstance(value, float) and value is not None:
            self._size(what).measure(value)

    def made_literal(self, value: Any) -> Any:
        """A list, tuple or dict literal, measured (:mod:`~builder.templates.sandbox_codegen`)."""
        self.made(value, "a literal")
        return value

    def printed(self, value: Any) -> Any:
        """A ``{{ value }}`` about to be turned into text: measured first, and counted."""
        budget = self._budget()
        if isinstance(value, str) and len(value) <= self.limits.max_output_chars:
            printed = len(value)  # the common case: below any render's limit
        else:
            size = self._size("a printed value")
            printed = size(value)
            size.check(printed)
        if budget is not None:
            budget.count_printed(printed)
        return value

    def join_text(self, parts: tuple[Any, ...]) -> str:
        """``a ~ b ~ …``: the parts measured, then turned into text and joined."""
        size = self._size("the result of ~")
        size.check(sum(map(size, parts)))
        return "".join(map(str, parts))

    def concat(self, parts: Iterable[str]) -> str:
        """The text of a macro, ``{% set %}`` or ``{% filter %}`` block, or call block:
        its chunks, joined once their total length is known to fit."""
        chunks = list(parts)
        self._size("the text of a block").check(sum(map(len, chunks)))
        return "".join(chunks)

    # -- hooks the sandbox calls -------------------------------------------------------

    def from_string(
        self,
        source: str | nodes.Template,
        globals: MutableMapping[str, Any] | None = None,
        template_class: type[jinja2.Template] | None = None,
    ) -> jinja2.Template:
        """Compile ``source`` within the compile bounds
        (:mod:`~builder.templates.sandbox_compile`), every loop's iterable wrapped so
        that each iteration checks the clock.

        The sandbox has no loader, so this is the only way a template gets in. It does
        what jinja2's own ``from_string`` does, with its public API only: :meth:`parse`,
        :meth:`compile` to Python source, then ``Template.from_code``.
        """
        clock = CompileClock(self.limits.compile_seconds)
        self._local.compile_clock = clock
        try:
            if isinstance(source, str):
                check_length(source)
            tree = self.parse(source) if isinstance(source, str) else source
            python = self.compile(guard_loops(tree), raw=True)
            code = python_code(python, TEMPLATE_FILENAME, clock)
        except RecursionError:  # jinja2's parser and code generator recurse
            raise TemplateError("the template nests too deeply to compile") from None
        finally:
            self._local.compile_clock = None
        cls = template_class or self.template_class
        return cls.from_code(self, code, self.make_globals(globals), None)

    def check_compile_time(self) -> None:
        """The compile in progress in this thread, if any, is still within its time."""
        clock: CompileClock | None = getattr(self._local, "compile_clock", None)
        if clock is not None:
            clock.check()

    def guard_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """Yield from ``iterable``, looking at the clock every few iterations."""
        budget = self._budget()
        for count, item in enumerate(iterable):
            if budget is not None and count % _CLOCK_EVERY == 0:
                budget.check_time()
            yield item

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        self.tick()
        if operator == "+" and type(left) is str and type(right) is str:
            # most of what chat templates compute; one comparison, not a measure
            self._size("the result of +").check(len(left) + len(right))
            return left + right
        size = self._size("the result of an operator")
        size.check(binop_size(operator, left, right, size))
        result = super().call_binop(context, operator, left, right)
        self.made(result, "the result of an operator")
        return result

    def call(
        __self,  # noqa: N805 - jinja2's signature, so that callers may pass ``self``
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        __self.tick()
        estimate, owner = estimate_for(__obj)
        if estimate is not None:
            arguments: Arguments = {"value": owner, "args": args, "kwargs": kwargs}
            __self.estimated(estimate, arguments, "the result of a call")
            args, kwargs = arguments["args"], arguments["kwargs"]
        result = super().call(__context, __obj, *args, **kwargs)
        __self.made(result, "the result of a call")
        return result

    def getattr(self, obj: Any, attribute: str) -> Any:
        self.tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.tick()
        return super().getitem(obj, argument)

    def estimated(self, estimate: Estimate, arguments: Arguments, what: str) -> None:
        """Refuse a call whose estimated result passes the value limit."""
        size = self._size(what)
        size.check(estimate(arguments, size))
