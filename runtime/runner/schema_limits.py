"""The bounds a JSON schema must keep to become a grammar: checked on the schema itself,
before any of it is converted.

llama-cpp-python's converter writes counts out in full (``minItems: 1000`` is the item
rule a thousand times, ``maxLength: 1000`` a thousand nested optional groups), spends
time quadratic in an object's optional properties, and turns every ``enum`` value,
``anyOf`` branch and regex alternative into an alternative that llama.cpp then checks
at every token (a 100,000-value enum made each token take over 20 s). What decides
the size and cost of the grammar is therefore in the schema, and cheap to read there:

- its JSON text is at most :data:`MAX_SCHEMA_CHARS` and nests at most
  :data:`MAX_SCHEMA_DEPTH` levels;
- ``minItems``, ``maxItems``, ``minLength``, ``maxLength`` and the ``{m,n}`` counts of a
  ``pattern`` are whole numbers from 0 to :data:`MAX_REPETITION` (llama.cpp itself
  refuses the nesting that much more would write), and add up to at most
  :data:`MAX_REPETITIONS`;
- an object has at most :data:`MAX_PROPERTIES` properties, the schema
  :data:`MAX_ALL_PROPERTIES` in all;
- ``enum`` values, ``anyOf``/``oneOf`` branches, ``type`` lists and a pattern's ``|``
  add up to at most :data:`MAX_ALTERNATIVES`.

Every key of the document is read, data (``const``, ``enum`` values) included: a
``$ref`` may point anywhere in it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ladle.errors import InvalidRequestError

#: Longest schema, as JSON text (a forced tool call's schema holds every tool's).
MAX_SCHEMA_CHARS = 256 * 1024
#: Deepest nesting of the schema's JSON objects and arrays.
MAX_SCHEMA_DEPTH = 64
#: Largest count one keyword or regex quantifier may give.
MAX_REPETITION = 1000
#: Largest sum of all those counts (what the converter writes grows with it, before the
#: grammar's own size can be checked).
MAX_REPETITIONS = 32_768
#: Most properties one object schema may list.
MAX_PROPERTIES = 256
#: Most properties all the schema's objects may list together.
MAX_ALL_PROPERTIES = 2048
#: Most alternatives (enum values, anyOf/oneOf branches, types, regex ``|``) in all.
MAX_ALTERNATIVES = 1024

COUNT_KEYWORDS = ("minItems", "maxItems", "minLength", "maxLength")
_ALTERNATIVE_KEYWORDS = ("enum", "anyOf", "oneOf", "type")
_QUANTIFIER = re.compile(r"\{\s*(\d*)\s*(?:,\s*(\d*)\s*)?\}")


@dataclass
class _Tally:
    chars: int = 0
    repetitions: int = 0
    properties: int = 0
    alternatives: int = 0


def check_schema(schema: dict[str, Any]) -> None:
    """Refuse (:class:`InvalidRequestError`) a schema that passes one of the bounds; its
    JSON text is measured roughly as it is walked (so that a huge one is refused before
    it is written out), and exactly by :func:`check_text`."""
    tally = _Tally()
    for node in _objects(schema, tally):
        _check_object(node, tally)
    _check_total("alternatives (enum values, anyOf/oneOf branches, types, regex |)",
                 tally.alternatives, MAX_ALTERNATIVES)  # fmt: skip
    _check_total("properties", tally.properties, MAX_ALL_PROPERTIES)
    _check_total("counts (minItems, maxItems, minLength, maxLength, {m,n})",
                 tally.repetitions, MAX_REPETITIONS)  # fmt: skip


def check_text(text: str) -> None:
    """Refuse a schema whose JSON text is longer than :data:`MAX_SCHEMA_CHARS`."""
    if len(text) > MAX_SCHEMA_CHARS:
        _refuse(f"the schema is {len(text):,} characters of JSON; at most {MAX_SCHEMA_CHARS:,}")


def _objects(schema: Any, tally: _Tally) -> Iterator[dict[Any, Any]]:
    """Every JSON object in ``schema``, without recursion; refuses deep nesting, and a
    schema whose JSON text would pass :data:`MAX_SCHEMA_CHARS` (counted at least: the
    strings, keys and separators)."""
    level: list[Any] = [schema]
    depth = 0
    while level:
        depth += 1
        if depth > MAX_SCHEMA_DEPTH:
            _refuse(f"the schema nests deeper than {MAX_SCHEMA_DEPTH} levels")
        below: list[Any] = []
        for node in level:
            tally.chars += len(node) + 2 if isinstance(node, str) else 2
            if isinstance(node, dict):
                tally.chars += sum(len(key) + 4 for key in node)
                yield node
                below.extend(node.values())
            elif isinstance(node, list):
                below.extend(node)
            if tally.chars > MAX_SCHEMA_CHARS:
                _refuse(f"the schema is over {MAX_SCHEMA_CHARS:,} characters of JSON")
        level = below


def _check_object(node: dict[Any, Any], tally: _Tally) -> None:
    for keyword in COUNT_KEYWORDS:
        if keyword in node:
            tally.repetitions += _count(keyword, node[keyword])
    pattern = node.get("pattern")
    if isinstance(pattern, str):
        for numbers in _QUANTIFIER.findall(pattern):
            tally.repetitions += sum(_quantifier(digits) for digits in numbers if digits)
        tally.alternatives += pattern.count("|")
    properties = node.get("properties")
    if isinstance(properties, dict):
        if len(properties) > MAX_PROPERTIES:
            _refuse(f"an object lists {len(properties)} properties; at most {MAX_PROPERTIES}")
        tally.properties += len(properties)
    for keyword in _ALTERNATIVE_KEYWORDS:
        if isinstance(node.get(keyword), list):
            tally.alternatives += len(node[keyword])


def _count(keyword: str, value: Any) -> int:
    """A count the converter will write out: a whole number within bounds."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        _refuse(f"{keyword} must be a whole number from 0 to {MAX_REPETITION}, not {value!r}")
    if value > MAX_REPETITION:
        _refuse(f"{keyword} is {value:,}; a grammar can count to at most {MAX_REPETITION:,}")
    return int(value)


def _quantifier(digits: str) -> int:
    """A regex ``{m,n}`` count (too many digits to read is too big a count)."""
    if len(digits) > len(str(MAX_REPETITION)) or int(digits) > MAX_REPETITION:
        _refuse(f"a pattern counts to {digits}; a grammar can count to at most {MAX_REPETITION:,}")
    return int(digits)


def _check_total(what: str, total: int, limit: int) -> None:
    if total > limit:
        _refuse(f"the schema has {total:,} {what}; at most {limit:,}")


def _refuse(reason: str) -> None:
    raise InvalidRequestError(f"this JSON schema cannot be a grammar: {reason}")
