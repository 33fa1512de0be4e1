"""The Jinja sandbox that chat templates render in, with a time limit and a size cap.

:class:`TemplateSandbox` is jinja2's :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`
(no underscore attributes, no ``list.append`` / ``dict.update``, no attribute assignment)
plus the limits a server needs against a hostile TEMPLATE:

- a deadline, checked without tracing: at every attribute and item lookup, every call,
  every intercepted operator, every output chunk, and every loop iteration (each
  ``{% for %}`` iterable is wrapped, at compile time, in :meth:`TemplateSandbox.guard_iter`);
- an output-size cap, checked on the output stream and, before the work is done, on
  string and list repetition and concatenation, ``%`` formatting and any call or filter
  given a width or count larger than the cap (``'a' * 10**9``, ``'x'|center(10**9)``);
- ``range()`` stays capped by the sandbox's own ``MAX_RANGE``.

The deadline of the render in progress lives in a :class:`threading.local` on the
environment, so one compiled template may render in several threads at once.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ladle.errors import TemplateError

#: Default wall-clock limit of one render, in seconds.
DEFAULT_RENDER_SECONDS = 2.0
#: Default cap on the characters one render may produce (1 MiB).
DEFAULT_MAX_OUTPUT_CHARS = 1 << 20
#: Largest exponent ``**`` accepts: enough for any template, too small to hang.
MAX_EXPONENT = 1024
#: Loop iterations between two looks at the clock.
_CLOCK_EVERY = 64

_FORMAT_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class RenderLimits:
    """How long one render may take and how much text it may produce."""

    seconds: float = DEFAULT_RENDER_SECONDS
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS


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


class _Budget:
    """The deadline and size cap of one render in progress."""

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.seconds

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateError(f"rendering took longer than {self.limits.seconds:g} s")

    def check_size(self, size: int, what: str = "the output") -> None:
        if size > self.limits.max_output_chars:
            raise TemplateError(f"{what} would exceed {self.limits.max_output_chars} characters")


class TemplateSandbox(ImmutableSandboxedEnvironment):
    """The environment every chat template compiles and renders in."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, limits: RenderLimits) -> None:
        super().__init__(
            trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols, _GenerationTag]
        )
        self.limits = limits
        self._local = threading.local()
        self.globals["raise_exception"] = raise_exception
        self.globals["strftime_now"] = strftime_now
        self.filters["tojson"] = tojson
        self.filters = {name: self._guarded(f) for name, f in self.filters.items()}

    # -- rendering ---------------------------------------------------------------------

    def render_limited(self, template: jinja2.Template, variables: Mapping[str, Any]) -> str:
        """Render within the limits; the chunks are counted as they are produced."""
        budget = _Budget(self.limits)
        self._local.budget = budget
        try:
            parts: list[str] = []
            size = 0
            for chunk in template.generate(**variables):
                size += len(chunk)
                budget.check_size(size)
                budget.check_time()
                parts.append(chunk)
            return "".join(parts)
        finally:
            self._local.budget = None

    def _budget(self) -> _Budget | None:
        budget: _Budget | None = getattr(self._local, "budget", None)
        return budget

    def _tick(self) -> None:
        budget = self._budget()
        if budget is not None:
            budget.check_time()

    def _check_size(self, value: object, what: str) -> None:
        budget = self._budget()
        if budget is not None and isinstance(value, str | list | tuple):
            budget.check_size(len(value), what)

    def _check_counts(self, args: Iterable[object], what: str) -> None:
        """Refuse, before the work, any integer argument larger than the output cap."""
        for arg in args:
            if isinstance(arg, int) and abs(arg) > self.limits.max_output_chars:
                raise TemplateError(f"{what}: {arg} exceeds the output cap")

    # -- hooks the sandbox calls -------------------------------------------------------

    def from_string(
        self,
        source: str | nodes.Template,
        globals: MutableMapping[str, Any] | None = None,
        template_class: type[jinja2.Template] | None = None,
    ) -> jinja2.Template:
        """Compile ``source`` with every loop's iterable wrapped, so that each iteration
        checks the clock.

        The sandbox has no loader, so this is the only way a template gets in; it uses
        jinja2's public API only: :meth:`parse`, then ``from_string`` of the syntax tree.
        """
        tree = self.parse(source) if isinstance(source, str) else source
        for loop in tree.find_all(nodes.For):
            guard = nodes.EnvironmentAttribute("guard_iter", lineno=loop.lineno)
            loop.iter = nodes.Call(guard, [loop.iter], [], None, None, lineno=loop.lineno)
        return super().from_string(tree, globals, template_class)

    def guard_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """Yield from ``iterable``, looking at the clock every few iterations."""
        budget = self._budget()
        for count, item in enumerate(iterable):
            if budget is not None and count % _CLOCK_EVERY == 0:
                budget.check_time()
            yield item

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        self._tick()
        self._check_binop(operator, left, right)
        result = super().call_binop(context, operator, left, right)
        self._check_size(result, "the result of an operator")
        return result

    def _check_binop(self, operator: str, left: Any, right: Any) -> None:
        sized = (str, list, tuple)
        if operator == "*" and isinstance(left, int) and isinstance(right, sized):
            left, right = right, left
        if operator == "*" and isinstance(left, sized) and isinstance(right, int):
            self._check_size_of(len(left) * max(right, 0))
        elif operator == "+" and isinstance(left, sized) and isinstance(right, sized):
            self._check_size_of(len(left) + len(right))
        elif operator == "**" and isinstance(right, int) and right > MAX_EXPONENT:
            raise TemplateError(f"exponent {right} is larger than {MAX_EXPONENT}")
        elif operator == "%" and isinstance(left, str):
            self._check_counts(map(int, _FORMAT_NUMBER.findall(left)), "format width")

    def _check_size_of(self, size: int) -> None:
        budget = self._budget()
        if budget is not None:
            budget.check_size(size, "the result of an operator")

    def call(
        __self,  # noqa: N805 - jinja2's signature, so that callers may pass ``self``
        __context: jinja2.runtime.Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        __self._tick()
        # the sandbox hands out ``str.format`` wrapped; look at the method underneath
        method = getattr(__obj, "__wrapped__", __obj)
        owner = getattr(method, "__self__", None)
        if isinstance(owner, str):
            __self._check_counts([*args, *kwargs.values()], "string method argument")
            if getattr(method, "__name__", "") in {"format", "format_map"}:
                __self._check_counts(map(int, _FORMAT_NUMBER.findall(owner)), "format width")
        result = super().call(__context, __obj, *args, **kwargs)
        __self._check_size(result, "the result of a call")
        return result

    def getattr(self, obj: Any, attribute: str) -> Any:
        self._tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self._tick()
        return super().getitem(obj, argument)

    def _guarded(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function`` (a filter) with the clock, argument and result checks around it."""

        # a filter's first argument is its value, after the context when it asks for one
        first_argument = 2 if getattr(function, "jinja_pass_arg", None) else 1

        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            self._tick()
            options = [*args[first_argument:], *kwargs.values()]
            self._check_counts(options, "filter argument")
            result = function(*args, **kwargs)
            self._check_size(result, "the result of a filter")
            return result

        return guarded
