"""Quoting of values, as Ollama's parser reads them and as ``fmt`` writes them."""

from __future__ import annotations

import functools
import re

TRIPLE = '"""'


def unquote(text: str) -> str:
    """The value of a (blank-trimmed) value text: Ollama's ``unquote``.

    The grammar has already checked that a quoted text is closed.
    """
    if text.startswith(TRIPLE) and len(text) >= 6:
        return text[3:-3]
    if text.startswith('"') and len(text) >= 2:
        return text[1:-1]
    return text


def quote(value: str, prose: bool = False) -> str:
    """The spelling of ``value`` that reads back as ``value``.

    Bare text when it can be, otherwise ``"…"`` for one line and ``\"\"\"…\"\"\"`` for
    several (falling back to the other quote when the first would close early).
    ``prose`` values (SYSTEM, TEMPLATE, LICENSE) prefer ``\"\"\"…\"\"\"``, as Ollama's
    documentation writes them.
    """
    if not value:
        return '""'  # the empty value reads back bare too, but a visible "" is clearer
    single = f'"{value}"'
    triple = f"{TRIPLE}{value}{TRIPLE}"
    multiline = "\n" in value or "\r" in value
    if prose:
        candidates = (triple, single, value)
    elif multiline:
        candidates = (value, triple, single)
    else:
        candidates = (value, single, triple)
    for candidate in candidates:
        if reads_back(candidate, value):
            return candidate
    raise ValueError(f"value cannot be written in Modelfile syntax: {value!r}")


def reads_back(text: str, value: str) -> bool:
    """Whether ``text``, written after a keyword and a blank, parses as exactly ``value``."""
    line = f" {text}\n"
    match = _value_pattern().match(line)
    if match is None or match.end() != len(line) - 1:
        return False
    return unquote(match.group().strip(" \t")) == value


@functools.cache
def _value_pattern() -> re.Pattern[str]:
    # The grammar is the only definition of a value; take its terminal from there.
    from modelfile.tables import terminal_pattern

    return re.compile(terminal_pattern("VALUE"))
