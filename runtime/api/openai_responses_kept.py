"""The responses a server keeps for ``previous_response_id``: in memory, bounded.

A response answered with ``store`` (OpenAI's default) is kept with its conversation as
Responses items (the earlier responses', the request's input, the answer's output;
``instructions`` apart, since OpenAI does not carry them over), so that a request naming
it continues that conversation. At most :data:`KEPT_RESPONSES` responses, and
:data:`KEPT_CHARS` characters of conversation between them, are kept; the oldest are
forgotten first, and nothing survives a restart. A conversation shares its items with
the responses it continues (the tuples hold the same dicts), but each is counted whole,
so the bound holds whatever is forgotten.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ladle.errors import InvalidFieldError

KEPT_RESPONSES = 256
"""Responses kept at most."""
KEPT_CHARS = 64 * 2**20
"""Characters of conversation (as JSON) kept at most, over every kept response."""
FIELD = "previous_response_id"


@dataclass(frozen=True)
class Kept:
    """A kept response: its conversation's items, and their size in characters."""

    items: tuple[dict[str, Any], ...]
    size: int


class KeptResponses:
    """The last responses answered with ``store``, by id."""

    def __init__(self, count: int = KEPT_RESPONSES, chars: int = KEPT_CHARS) -> None:
        self.count, self.chars = count, chars
        self._kept: OrderedDict[str, Kept] = OrderedDict()
        self._size = 0

    def items(self, response_id: str) -> tuple[dict[str, Any], ...]:
        """The conversation of ``response_id``; an id not kept is a 400 naming the field."""
        kept = self._kept.get(response_id)
        if kept is None:
            raise InvalidFieldError(
                FIELD,
                f"no response {response_id!r} is kept: ladle keeps the last {self.count} "
                "responses answered with store, in memory, until it restarts",
            )
        self._kept.move_to_end(response_id)  # continued: the last to forget
        return kept.items

    def keep(self, response_id: str, items: tuple[dict[str, Any], ...]) -> None:
        """Keep ``items`` as ``response_id``'s conversation, forgetting the oldest over
        the bounds (a conversation over :data:`KEPT_CHARS` alone is not kept)."""
        size = len(json.dumps(items, ensure_ascii=False))
        if size > self.chars:
            return
        self._kept[response_id] = Kept(items, size)
        self._size += size
        while len(self._kept) > self.count or self._size > self.chars:
            _, forgotten = self._kept.popitem(last=False)
            self._size -= forgotten.size

    def __len__(self) -> int:
        return len(self._kept)
