"""Go's template functions that Jinja has no equivalent for, as one object.

A converted template calls them through the ``go`` variable that
:func:`builder.templates.go_template.render_messages` passes in: ``go.print`` (what every
``{{ x }}`` action does: Go's ``fmt.Sprint``), ``go.printf``, ``go.println``, ``go.json``
(Ollama's ``json`` function) and ``go.range`` (the pairs a Go ``range`` visits). The
sandbox calls them like any other function, so the time and size limits apply.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from jinja2 import Undefined

from builder.templates.go_values import GoMap, GoStruct, go_json

#: Widths and precisions above this are refused, so ``%999999999d`` cannot eat memory.
MAX_FORMAT_WIDTH = 4096

#: Largest integer a ``range`` may count to, as jinja2's sandbox caps ``range()``.
MAX_RANGE = 100_000

_VERB = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])")
_QUOTE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                  "\v": "\\v", "\\": "\\\\", '"': '\\"'}  # fmt: skip


def sprint_value(value: Any) -> str:
    """One value as Go's ``fmt`` prints it with ``%v``."""
    if isinstance(value, Undefined):
        return ""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str | int | GoStruct | GoMap):
        return str(value)
    if isinstance(value, Mapping):
        pairs = (f"{sprint_value(k)}:{sprint_value(value[k])}" for k in sorted(value, key=str))
        return f"map[{' '.join(pairs)}]"
    if isinstance(value, list | tuple):
        return f"[{' '.join(map(sprint_value, value))}]"
    return str(value)


def _float(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def _quote(text: str) -> str:
    """Go's ``strconv.Quote`` for printable text."""
    escaped = "".join(_QUOTE_ESCAPES.get(char, char) for char in text)
    return f'"{escaped}"'


def _format_one(flags: str, width: str | None, precision: str | None, verb: str, arg: Any) -> str:
    """One ``%verb`` with its argument."""
    if verb in "sv":
        text = sprint_value(arg)
        text = text[: int(precision)] if precision else text
    elif verb == "q":
        text = _quote(arg if isinstance(arg, str) else sprint_value(arg))
    elif verb == "d" and isinstance(arg, int | float) and not isinstance(arg, bool):
        text = str(int(arg))
    elif verb == "f" and isinstance(arg, int | float):
        text = f"{arg:.{int(precision) if precision else 6}f}"
    elif verb == "t" and isinstance(arg, bool):
        text = sprint_value(arg)
    elif verb in "xX" and isinstance(arg, int):
        text = format(arg, verb)
    else:
        return f"%!{verb}({type(arg).__name__}={sprint_value(arg)})"
    size = int(width or 0)
    if size > MAX_FORMAT_WIDTH:
        raise ValueError(f"printf width {size} is larger than {MAX_FORMAT_WIDTH}")
    fill = "0" if "0" in flags and verb in "dfxX" and "-" not in flags else " "
    return text.ljust(size) if "-" in flags else text.rjust(size, fill)


class GoFunctions:
    """The functions converted templates call; stateless, safe to share."""

    def print(self, *args: Any) -> str:
        """``fmt.Sprint``: a space between operands when neither is a string."""
        out: list[str] = []
        for index, arg in enumerate(args):
            if index and not isinstance(arg, str) and not isinstance(args[index - 1], str):
                out.append(" ")
            out.append(sprint_value(arg))
        return "".join(out)

    def println(self, *args: Any) -> str:
        """``fmt.Sprintln``: operands separated by spaces, then a newline."""
        return " ".join(map(sprint_value, args)) + "\n"

    def printf(self, format_string: str, *args: Any) -> str:
        """``fmt.Sprintf`` for the verbs templates use: ``%s %v %q %d %f %t %x %%``."""
        remaining = list(args)

        def substitute(match: re.Match[str]) -> str:
            flags, width, precision, verb = match.groups()
            if verb == "%":
                return "%"
            if not remaining:
                return f"%!{verb}(MISSING)"
            return _format_one(flags, width, precision, verb, remaining.pop(0))

        text = _VERB.sub(substitute, format_string)
        if remaining:
            extra = ", ".join(f"{type(a).__name__}={sprint_value(a)}" for a in remaining)
            text += f"%!(EXTRA {extra})"
        return text

    def json(self, value: Any) -> str:
        """Ollama's ``json`` template function (``encoding/json.Marshal``)."""
        return go_json(value)

    def range(self, value: Any) -> list[tuple[Any, Any]]:
        """The (index or key, element) pairs a Go ``range`` visits: maps in key order."""
        if value is None or isinstance(value, Undefined):
            return []
        if isinstance(value, Mapping):
            return [(key, value[key]) for key in sorted(value)]
        if isinstance(value, int) and not isinstance(value, bool):
            if value > MAX_RANGE:
                raise ValueError(f"range over {value} is larger than {MAX_RANGE}")
            return [(i, i) for i in range(value)]
        if isinstance(value, list | tuple):
            return list(enumerate(value))
        raise ValueError(f"range can't iterate over {sprint_value(value)}")
