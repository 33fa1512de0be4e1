"""The filters, methods and functions whose result a parameter can make big, with an
upper bound on that result computed before they run (see
:mod:`builder.templates.sandbox_sizes` for what a size is).

``'x'|center(10**6)``, ``s.replace('a', s)``, ``'\\t'.expandtabs(n)``, ``l|join(s)``,
``x|batch(n, fill)`` and the like grow with a width, a count or a repeated argument, not
only with the size of their inputs; each has an estimate here, and the sandbox refuses
the call when the estimate passes the limit. Every other filter and method makes at
most a few times the size of its inputs (case changes, escaping, selection, sorting),
and the sandbox checks its result once made.

An estimate gets the call's arguments by name (``Arguments``: bound to the filter's
signature, or the receiver and positional arguments of a method) and may replace an
iterator among them with the list of its items, so that it can measure what the call
will consume; the call then gets that list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from builder.templates.sandbox_sizes import Size, format_size, printf_size

Arguments = dict[str, Any]
"""A call's arguments by parameter name (the receiver of a method is ``value``)."""
Estimate = Callable[[Arguments, Size], int]
"""An upper bound on the size of a call's result, from its arguments."""

_URL_MARKUP = 48  # what urlize adds around one link, beside target and rel
_LIPSUM_WORD = 12  # the longest lorem ipsum word, and a space
_STRFTIME_FIELD = 32  # the longest text one strftime directive prints


def _arg(arguments: Arguments, name: str, default: Any) -> Any:
    return arguments.get(name, default)


def _int(value: Any) -> int:
    """A width or count (anything else: the call itself will refuse it)."""
    return value if isinstance(value, int) else 0


def _text(value: Any, size: Size) -> str:
    """``str(value)``, once measured (so the conversion itself is bounded)."""
    if isinstance(value, str):
        return value
    size(value)
    return str(value)


def _items(arguments: Arguments, name: str) -> list[Any]:
    """The items of argument ``name``, an iterator read into a list (and the call given
    that list instead)."""
    value = arguments[name]
    if isinstance(value, Iterator):
        value = arguments[name] = list(value)
    return list(value) if not isinstance(value, list) else value


def replace_size(text: str, old: Any, new: Any, count: Any) -> int:
    """``text.replace(old, new, count)``: one ``new`` for each ``old`` found (or between
    every two characters, for an empty ``old``)."""
    if not isinstance(old, str) or not isinstance(new, str):
        return len(text)
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * max(0, len(new) - len(old))


def join_size(separator: str, items: list[Any], size: Size) -> int:
    """``separator.join(items)``, each item printed: the size of the list of them (one
    walk; a few characters more than the items alone) and the separators."""
    return size(items) + len(separator) * max(len(items) - 1, 0)


def _lines(text: str) -> int:
    return text.count("\n") + 1  # the lines indent and wordwrap work on


# -- filters ---------------------------------------------------------------------------


def _center(a: Arguments, size: Size) -> int:
    return max(size(a["value"]), _int(_arg(a, "width", 80)))


def _indent(a: Arguments, size: Size) -> int:
    text = _text(a["s"], size)
    width = _arg(a, "width", 4)
    per_line = len(width) if isinstance(width, str) else _int(width)
    return len(text) + _lines(text) * per_line


def _replace(a: Arguments, size: Size) -> int:
    return replace_size(_text(a["s"], size), a["old"], a["new"], _arg(a, "count", None))


def _join(a: Arguments, size: Size) -> int:
    separator = _arg(a, "d", "")
    return join_size(_text(separator, size), _items(a, "value"), size)


def _wordwrap(a: Arguments, size: Size) -> int:
    text = _text(a["s"], size)
    wrap = _arg(a, "wrapstring", None) or "\n"
    # a line per word, and more where a long word is broken at the width
    lines = len(text) // max(_int(_arg(a, "width", 79)), 1) + text.count(" ") + _lines(text)
    return len(text) + lines * len(_text(wrap, size))


def _format(a: Arguments, size: Size) -> int:
    kwargs, args = _arg(a, "kwargs", {}), _arg(a, "args", ())
    return printf_size(_text(a["value"], size), kwargs or args, size)


def _batch(a: Arguments, size: Size) -> int:
    # the last batch is filled up to the batch's length with fill_with
    padding = _int(a["linecount"]) * (size(_arg(a, "fill_with", None)) + 2)
    return size(a["value"]) + padding


def _slice(a: Arguments, size: Size) -> int:
    padding = _int(a["slices"]) * (size(_arg(a, "fill_with", None)) + 4)
    return size(a["value"]) + padding


def _tojson(a: Arguments, size: Size) -> int:
    indent = _arg(a, "indent", None)
    found = size.measure(a["value"])
    per_level = len(indent) if isinstance(indent, str) else _int(indent)
    separators = sum(map(len, _arg(a, "separators", None) or ()))
    # with an indent, every item starts a line indented by its depth
    per_item = separators + (1 + found.depth * per_level if indent is not None else 0)
    return found.size + found.items * per_item


def _pprint(a: Arguments, size: Size) -> int:
    found = size.measure(a["value"])
    lines = found.items + found.size // 72 + 1  # long strings are cut into lines too
    return found.size + lines * (found.depth + 3)


def _urlize(a: Arguments, size: Size) -> int:
    text = _text(a["value"], size)
    extra = sum(len(_text(_arg(a, key, None) or "", size)) for key in ("target", "rel"))
    words = text.count(" ") + _lines(text)
    return 2 * len(text) + words * (_URL_MARKUP + extra)


FILTERS: dict[str, Estimate] = {
    "center": _center,
    "indent": _indent,
    "replace": _replace,
    "join": _join,
    "wordwrap": _wordwrap,
    "format": _format,
    "batch": _batch,
    "slice": _slice,
    "tojson": _tojson,
    "pprint": _pprint,
    "urlize": _urlize,
}
"""Filters that get an estimate, by name."""


# -- methods and functions ---------------------------------------------------------------


def _positional(a: Arguments, index: int, default: Any = None) -> Any:
    args: tuple[Any, ...] = a["args"]
    return args[index] if len(args) > index else default


def _widened(a: Arguments, size: Size) -> int:  # center, ljust, rjust, zfill
    return max(size(a["value"]), _int(_positional(a, 0, 0)))


def _expandtabs(a: Arguments, size: Size) -> int:
    text, tab = a["value"], _int(_positional(a, 0, a["kwargs"].get("tabsize", 8)))
    tabs: int = text.count("\t" if isinstance(text, str) else b"\t")
    return len(text) + tabs * max(tab, 0)


def _str_replace(a: Arguments, size: Size) -> int:
    if not isinstance(a["value"], str):
        return len(a["value"])  # bytes: the same rule, measured on the result
    return replace_size(a["value"], _positional(a, 0), _positional(a, 1), _positional(a, 2, -1))


def _str_join(a: Arguments, size: Size) -> int:
    if not a["args"]:
        return 0
    items = a["args"][0]
    if isinstance(items, Iterator):
        items = list(items)
        a["args"] = (items, *a["args"][1:])
    return join_size(str(a["value"]), list(items), size)


def _str_format(a: Arguments, size: Size) -> int:
    return format_size(a["value"], a["args"], a["kwargs"], size)


def _str_format_map(a: Arguments, size: Size) -> int:
    mapping = _positional(a, 0, {})
    values = mapping if isinstance(mapping, Mapping) else {}
    return format_size(a["value"], (), values, size)


def _translate(a: Arguments, size: Size) -> int:
    table = _positional(a, 0, {})
    longest = 1
    if isinstance(table, Mapping):
        longest = max((size(v) for v in table.values() if v is not None), default=1)
    return len(a["value"]) * max(longest, 1)


def _to_bytes(a: Arguments, size: Size) -> int:
    return 4 * _int(_positional(a, 0, a["kwargs"].get("length", 1)))


METHODS: dict[str, Estimate] = {
    "center": _widened,
    "ljust": _widened,
    "rjust": _widened,
    "zfill": _widened,
    "expandtabs": _expandtabs,
    "replace": _str_replace,
    "join": _str_join,
    "format": _str_format,
    "format_map": _str_format_map,
    "translate": _translate,
}
"""Methods of ``str`` and ``bytes`` that get an estimate, by name."""

INT_METHODS: dict[str, Estimate] = {"to_bytes": _to_bytes}
"""Methods of ``int`` that get an estimate, by name."""


def _lipsum(a: Arguments, size: Size) -> int:
    paragraphs = _int(_positional(a, 0, a["kwargs"].get("n", 5)))
    words = _int(_positional(a, 3, a["kwargs"].get("max", 100)))
    return paragraphs * (words * _LIPSUM_WORD + 16)


def _strftime(a: Arguments, size: Size) -> int:
    text = _positional(a, 0, "")
    return len(text) + text.count("%") * _STRFTIME_FIELD if isinstance(text, str) else 0


def _go_printf(a: Arguments, size: Size) -> int:
    template, *values = a["args"] or ("",)
    if not isinstance(template, str):
        return 0
    return printf_size(template, tuple(values), size)


FUNCTIONS: dict[str, Estimate] = {
    "jinja2.utils.generate_lorem_ipsum": _lipsum,
    "builder.templates.sandbox.strftime_now": _strftime,
    # Ollama's printf, for converted Go templates: its verbs are printf's, its widths
    # capped by go_funcs.MAX_FORMAT_WIDTH, but a format may have many verbs
    "builder.templates.go_funcs.GoFunctions.printf": _go_printf,
}
"""Functions that get an estimate, by module and qualified name."""


def estimate_for(function: Any) -> tuple[Estimate | None, Any]:
    """The estimate of a method or function the sandbox is about to call (``None`` when
    it has none), and the object it is a method of."""
    method = getattr(function, "__wrapped__", function)  # the sandbox wraps str.format
    owner, name = getattr(method, "__self__", None), getattr(method, "__name__", "")
    if isinstance(owner, str | bytes):
        return METHODS.get(name), owner
    if isinstance(owner, int) and not isinstance(owner, bool):
        return INT_METHODS.get(name), owner
    module, qualname = getattr(method, "__module__", None), getattr(method, "__qualname__", "")
    return FUNCTIONS.get(f"{module}.{qualname}"), owner
