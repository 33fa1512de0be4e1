"""Which known chat-template family a GGUF's Jinja template is, as Ollama tells.

Ollama (``template/template.go``, ``Named``) compares a GGUF's
``tokenizer.chat_template`` with every entry of its ``template/index.json`` by
Levenshtein distance (over code points, ``agnivade/levenshtein``), keeps the first
entry with the smallest distance, and accepts it when that distance is under 100. The
family's ``<name>.json`` then gives the image its default ``stop`` parameters (Ollama
reads nothing else from that file). ladle keeps the GGUF's own Jinja template: only
the family name (for the image config) and the stop sequences are taken.

The rule is Ollama's, quirk included: the limit is absolute, not relative to the
template's length, so a short template of any kind can be "close" to a short index
entry (ladle's own default template is 64 edits from ChatML). Detection is therefore
only meant for the template a GGUF ships.

The index and the stop lists ship as package data (``template_families.json``, copied
from the Ollama revision named in its ``source``); a test keeps it equal to
``tests/fixtures/ollama/ollama_template_cases.json``.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

#: Ollama accepts the nearest index entry only when its distance is below this.
MAX_DISTANCE = 100

_DATA_FILE = "template_families.json"


@dataclass(frozen=True)
class Family:
    """A known chat-template family and the stop sequences a model of it needs."""

    name: str
    stop: tuple[str, ...]
    distance: int
    """Edits between the template and the family's nearest index entry."""

    def default_params(self) -> dict[str, Any]:
        """The parameters an image from such a GGUF gets unless its Modelfile sets them."""
        return {"stop": list(self.stop)} if self.stop else {}


@dataclass(frozen=True)
class _Entry:
    name: str
    template: str


@dataclass(frozen=True)
class _Index:
    entries: tuple[_Entry, ...]
    stop: dict[str, tuple[str, ...]]


@functools.cache
def _index() -> _Index:
    """The shipped index, read once (it never changes while ladle runs)."""
    data = json.loads(files("builder.templates").joinpath(_DATA_FILE).read_text("utf-8"))
    return _Index(
        entries=tuple(_Entry(entry["name"], entry["template"]) for entry in data["index"]),
        stop={name: tuple(stops) for name, stops in data["stop"].items()},
    )


def detect_family(jinja_template: str) -> Family | None:
    """The family of ``jinja_template``, or ``None`` when no index entry is within
    :data:`MAX_DISTANCE` edits of it (Ollama's ``template.Named``)."""
    index = _index()
    best: _Entry | None = None
    score = MAX_DISTANCE
    for entry in index.entries:
        # The distance is at least the length difference: skip what cannot win.
        if abs(len(entry.template) - len(jinja_template)) >= score:
            continue
        distance = levenshtein(jinja_template, entry.template)
        if distance < score:  # strictly smaller: the first of equals wins, as in Ollama
            best, score = entry, distance
    if best is None:
        return None
    return Family(best.name, index.stop.get(best.name, ()), score)


def levenshtein(a: str, b: str) -> int:
    """The edit distance between ``a`` and ``b`` (insert, delete, substitute a code
    point), by Hyyrö's bit-parallel form of Myers' algorithm: one pass over the longer
    string, with the shorter one held as the bits of Python integers."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    matches: dict[str, int] = {}
    for position, char in enumerate(b):
        matches[char] = matches.get(char, 0) | (1 << position)
    mask = (1 << len(b)) - 1
    last = 1 << (len(b) - 1)
    plus, minus, score = mask, 0, len(b)
    for char in a:
        equal = matches.get(char, 0)
        vertical = equal | minus
        horizontal = (((equal & plus) + plus) ^ plus) | equal
        h_plus = minus | ~(horizontal | plus)
        h_minus = plus & horizontal
        if h_plus & last:
            score += 1
        elif h_minus & last:
            score -= 1
        h_plus = (h_plus << 1) | 1
        h_minus <<= 1
        plus = (h_minus | ~(vertical | h_plus)) & mask
        minus = h_plus & vertical & mask
    return score
