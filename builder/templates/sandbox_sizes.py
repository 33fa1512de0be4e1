"""How big a template's values are, and how big an operation's result will be, before
it runs: the sandbox's size model (:mod:`builder.templates.sandbox` applies it).

A value's *size* is the number of characters it prints as, near enough: a string's
length, an integer's digits, and for a list, tuple, set or mapping the sizes of its
items (counted again wherever the same item appears twice, as printing it would) plus
their quotes and separators. Jinja turns values into text all the time (``{{ x }}``,
``~``, ``join``, ``tojson``, ``%``), and comparing or sorting a value costs about its
size too, so a bound on the size of every value a template makes bounds the work of
every step that follows.

:func:`measure` walks a value without recursion (depth and item counts are capped, so
a value that contains itself is refused, not followed forever) and stops as soon as the
size passes the limit, so measuring costs at most about the limit. The estimators
below give, from the arguments alone and in time proportional to them, an upper bound
on the size of what an operation would make when a parameter, not only the size of the
inputs, decides it (``'a' * n``, ``center(width)``, ``replace(old, new)``...). Every
estimate is exact up to the few characters escaping adds.
"""

from __future__ import annotations

import re
from collections.abc import (
    Callable,
    Collection,
    ItemsView,
    Iterable,
    KeysView,
    Mapping,
    ValuesView,
)
from dataclasses import dataclass
from typing import Any

from jinja2 import Undefined
from jinja2.utils import Namespace

from ladle.errors import TemplateError

#: Largest integer (in bits) a template may make: 4096 bits print as 1,234 digits; a
#: product or power of two such numbers takes microseconds, where a power tower of
#: big numbers would hold the interpreter (and so every thread) for minutes.
MAX_INT_BITS = 4096
#: Most items one list, tuple, set or mapping a template makes may hold (more when a
#: variable it was given holds more): sorting, comparing or serialising that many items
#: is a few milliseconds of C, during which no other thread runs.
MAX_ITEMS = 10_000
#: Deepest nesting a value may have (JSON and chat messages need a handful of levels).
MAX_DEPTH = 100

_NESTED_STRING = 2  # the quotes around a string printed inside a container
_SEPARATOR = 2  # ", " between items, ": " between a key and its value
_OPAQUE = 40  # a function, loop or macro prints as "<… object at 0x…>"
_FLOAT = 24  # the longest repr of a float
_TICK_EVERY = 4096  # items measured before the walk looks at the clock
UNLIMITED = 1 << 62  # a limit never reached

_CONTAINERS = (list, tuple, set, frozenset, Mapping, KeysView, ValuesView, ItemsView)

_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")
_BRACE_FIELD = re.compile(r"\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}")
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class Measure:
    """What :func:`measure` found: the printed size, the items of every container in
    it, the items of the widest one, and the depth of the deepest."""

    size: int
    items: int
    widest: int
    depth: int


class Bounds:
    """The value and item limits of one render: the output cap and :data:`MAX_ITEMS`,
    widened, the first time a value passes them, to the size and widest container of
    the variables the template was given (measured then, not for every render)."""

    def __init__(self, chars: int, given: object = None) -> None:
        self.chars, self.items = chars, MAX_ITEMS
        self._given = given

    def widen(self) -> bool:
        """Widen to the variables (once); whether the limits grew."""
        if self._given is None:
            return False
        found = measure(self._given, UNLIMITED, "the template's variables", None, UNLIMITED)
        self._given = None
        before = (self.chars, self.items)
        self.chars, self.items = max(self.chars, found.size), max(self.items, found.widest)
        return (self.chars, self.items) != before


@dataclass(frozen=True)
class Size:
    """Measures values against a render's :class:`Bounds`: ``size(value)`` is the
    printed size, ``size.measure(value)`` the whole :class:`Measure`; both refuse a
    value over the limits with a :class:`TemplateError` naming ``what``."""

    bounds: Bounds
    what: str
    tick: Callable[[], None] | None = None

    @property
    def limit(self) -> int:
        return self.bounds.chars

    def __call__(self, value: object) -> int:
        if isinstance(value, str):  # the common cases, without a walk
            return len(value)
        if isinstance(value, int | float) or value is None:
            return own_size(value)
        return self.measure(value).size

    def measure(self, value: object) -> Measure:
        bounds = self.bounds
        try:
            return measure(value, bounds.chars, self.what, self.tick, bounds.items)
        except TemplateError:
            if not bounds.widen():
                raise
            return measure(value, bounds.chars, self.what, self.tick, bounds.items)

    def check(self, estimate: int) -> None:
        """Refuse an operation whose result would be ``estimate`` characters."""
        if estimate > self.bounds.chars and (not self.bounds.widen() or estimate > self.limit):
            raise TemplateError(f"{self.what} would exceed {self.limit} characters")

    def check_items(self, count: int) -> None:
        """Refuse an operation whose result would hold ``count`` items."""
        items = self.bounds.items
        if count > items and (not self.bounds.widen() or count > self.bounds.items):
            raise TemplateError(f"{self.what} would exceed {self.bounds.items} items ({count})")


def measure(
    value: object,
    limit: int,
    what: str,
    tick: Callable[[], None] | None = None,
    max_items: int = MAX_ITEMS,
) -> Measure:
    """The :class:`Measure` of ``value``; :class:`TemplateError` (naming ``what``) when
    its size passes ``limit``, a container holds more than ``max_items`` items, or
    containers nest deeper than :data:`MAX_DEPTH` (which is also how a value that
    contains itself ends). Walked a level at a time, without recursion."""
    size = items = widest = depth = 0
    level: Collection[object] = (value,)
    while level:
        below: list[object] = []
        quotes = _NESTED_STRING if depth else 0
        for item in level:
            if type(item) is str:  # most items: inline, a call each would double the cost
                size += len(item) + quotes
                continue
            own, children = _parts(item, nested=depth > 0)
            size += own
            if children is not None:
                if len(children) > max_items:
                    count = len(children)
                    raise TemplateError(f"{what} would exceed {max_items} items ({count})")
                items += len(children)
                widest = max(widest, len(children))
                size += _SEPARATOR * len(children)
                below.extend(children)
            if size > limit:
                raise TemplateError(f"{what} would exceed {limit} characters")
        if size > limit:
            raise TemplateError(f"{what} would exceed {limit} characters")
        if below:
            depth += 1
            if depth > MAX_DEPTH:
                raise TemplateError(f"{what} nests containers deeper than {MAX_DEPTH} levels")
            if tick is not None and items >= _TICK_EVERY:
                tick()
        level = below
    return Measure(size, items, widest, depth)


def _parts(value: Any, nested: bool) -> tuple[int, Collection[object] | None]:
    """The characters ``value`` prints as itself, and the items it contains (``None``
    for anything that is not a container). The common types first, by exact type."""
    kind = type(value)
    if kind is str:
        return len(value) + (_NESTED_STRING if nested else 0), None
    if kind is dict:
        return 2, [*value, *value.values()]
    if kind is list or kind is tuple:
        return 2, value
    if kind is int:
        return value.bit_length() // 3 + 2, None
    if kind is float or kind is bool or value is None:
        return own_size(value), None
    children = _children(value)
    if children is None:
        return own_size(value, nested=nested), None
    return (14 if isinstance(value, Namespace) else 2), children  # "<Namespace {}>", "[]"


def own_size(value: object, *, nested: bool = False) -> int:
    """The characters ``value`` prints as itself, without any items it contains."""
    if isinstance(value, str):
        return len(value) + (_NESTED_STRING if nested else 0)
    if isinstance(value, bytes | bytearray):
        return len(value) + 3
    if isinstance(value, bool) or value is None:
        return 5
    if isinstance(value, int):
        return value.bit_length() // 3 + 2  # digits (bits * log10 2 < bits / 3) and sign
    if isinstance(value, float):
        return _FLOAT
    if isinstance(value, Undefined):
        return 0
    if isinstance(value, Namespace):
        return 14  # "<Namespace {}>"
    if isinstance(value, _CONTAINERS):
        return 2
    return _OPAQUE


def _children(value: object) -> Collection[object] | None:
    """The items a container prints; ``None`` for anything else. Only containers whose
    items can be read without running template code or consuming an iterator."""
    if isinstance(value, dict):
        return [*value, *value.values()]
    if isinstance(value, str | bytes | bytearray):
        return None
    if isinstance(value, Namespace):
        # jinja2 keeps a namespace's attributes in this dict and has no public way to
        # list them; its repr prints them all (tests/builder/templates/test_sandbox_sizes.py)
        value = object.__getattribute__(value, "_Namespace__attrs")
    if isinstance(value, Mapping):
        return [*value.keys(), *value.values()]
    if isinstance(value, ItemsView):
        return [part for pair in value for part in pair]
    if isinstance(value, _CONTAINERS):
        return list(value)
    return None


def check_int(value: object, what: str) -> None:
    """Refuse an integer of more than :data:`MAX_INT_BITS` bits."""
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise TemplateError(f"{what} would be an integer larger than {MAX_INT_BITS} bits")


# -- operators -----------------------------------------------------------------------


def binop_size(operator: str, left: Any, right: Any, size: Size) -> int:
    """An upper bound on the size of ``left <operator> right`` (0 when the operator
    cannot make a big value); integers that would pass :data:`MAX_INT_BITS` are refused
    here, before Python starts on them."""
    if operator == "*":
        return _times_size(left, right, size)
    if operator == "**" and isinstance(left, int) and isinstance(right, int):
        _check_power(left, right)
    elif operator == "+" and _is_sequence(left) and _is_sequence(right):
        if not isinstance(left, str):
            size.check_items(len(left) + len(right))
        return size(left) + size(right)
    elif operator == "%" and isinstance(left, str):
        return printf_size(left, right, size)
    return 0


def _times_size(left: Any, right: Any, size: Size) -> int:
    if isinstance(left, int) and _is_sequence(right):
        left, right = right, left
    if _is_sequence(left) and isinstance(right, int):
        count = max(right, 0)
        if not isinstance(left, str):
            size.check_items(len(left) * count)
        return size(left) * count
    if (
        isinstance(left, int)
        and isinstance(right, int)
        and left.bit_length() + right.bit_length() > MAX_INT_BITS
    ):
        raise TemplateError(f"a product would be an integer larger than {MAX_INT_BITS} bits")
    return 0


def _check_power(base: int, exponent: int) -> None:
    if exponent > 0 and abs(base) > 1 and (abs(base).bit_length() - 1) * exponent > MAX_INT_BITS:
        raise TemplateError(f"a power would be an integer larger than {MAX_INT_BITS} bits")


def _is_sequence(value: object) -> bool:
    return isinstance(value, str | list | tuple)


def printf_size(template: str, values: Any, size: Size) -> int:
    """An upper bound on ``template % values``: the template, every width and precision
    it names (or takes from ``values`` with ``*``) and, for each conversion, the biggest
    value it could print."""
    given = list(values.values()) if isinstance(values, Mapping) else _as_tuple(values)
    biggest = max(map(size, given), default=0)
    rough = len(template) + template.count("%") * biggest
    if rough > size.limit:  # too big already, without reading every conversion
        return rough
    specs = _PRINTF_SPEC.findall(template)
    widths = sum(_number(part) for spec in specs for part in spec if part != "*")
    if any("*" in spec for spec in specs):
        widths += sum(abs(v) for v in given if isinstance(v, int))
    return len(template) + widths + len(specs) * biggest


def format_size(template: str, args: Iterable[Any], kwargs: Mapping[str, Any], size: Size) -> int:
    """An upper bound on ``template.format(*args, **kwargs)``: the template, the numbers
    in its fields (widths, precisions; a nested ``{}`` takes its width from an argument)
    and, for each field, the biggest argument it could print."""
    given = [*args, *kwargs.values()]
    biggest = max(map(size, given), default=0)
    rough = len(template) + template.count("{") * biggest
    if rough > size.limit:  # too big already, without reading every field
        return rough
    fields = _BRACE_FIELD.findall(template)
    widths = sum(map(_number, _DIGITS.findall(" ".join(fields))))
    if any(field.count("{") > 1 for field in fields):
        widths += sum(abs(v) for v in given if isinstance(v, int))
    return len(template) + widths + len(fields) * biggest


def _as_tuple(values: Any) -> list[Any]:
    return list(values) if isinstance(values, tuple) else [values]


def _number(digits: str) -> int:
    """A width written in a template; one too long to read counts as unbounded."""
    try:
        return int(digits) if digits else 0
    except ValueError:
        return 1 << 62
