"""A non-streamed answer is gathered, or cancelled when its client leaves first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any, cast

import pytest
from fastapi import Request, Response

from runtime.api.gather import gather_replies
from runtime.api.middleware.metrics import CLIENT_CLOSED
from runtime.api.service import Reply

pytestmark = pytest.mark.anyio


class _Client:
    """A request's ``receive``: the client leaves after ``leaves_after`` seconds (never
    with None)."""

    def __init__(self, leaves_after: float | None) -> None:
        self.leaves_after = leaves_after

    async def receive(self) -> dict[str, Any]:
        if self.leaves_after is None:
            await asyncio.Event().wait()
        await asyncio.sleep(self.leaves_after or 0)
        return {"type": "http.disconnect"}


def _request(leaves_after: float | None) -> Request:
    return cast(Request, _Client(leaves_after))


class _Generation:
    def __init__(self, pieces: int | None, every_s: float = 0.01) -> None:
        self.pieces, self.every_s = pieces, every_s
        self.sent, self.closed = 0, False

    async def replies(self) -> AsyncGenerator[Reply, None]:
        try:
            while self.pieces is None or self.sent < self.pieces:
                await asyncio.sleep(self.every_s)
                self.sent += 1
                done = self.pieces is not None and self.sent == self.pieces
                yield Reply(text="x", done_reason="length" if done else None)
        finally:
            self.closed = True


async def test_a_finished_generation_is_gathered() -> None:
    generation = _Generation(pieces=5)
    gathered = await gather_replies(_request(None), generation.replies())
    assert isinstance(gathered, list) and len(gathered) == 5 and gathered[-1].done
    assert generation.closed


async def test_a_client_that_leaves_cancels_the_generation() -> None:
    generation = _Generation(pieces=None)  # would go on forever
    gathered = await asyncio.wait_for(
        gather_replies(_request(0.05), generation.replies()), timeout=5
    )
    assert isinstance(gathered, Response) and gathered.status_code == CLIENT_CLOSED
    assert generation.closed and 0 < generation.sent < 100


async def test_an_error_before_the_end_is_raised() -> None:
    async def failing() -> AsyncGenerator[Reply, None]:
        yield Reply(text="a")
        raise LookupError("model 'x' not found")

    with pytest.raises(LookupError, match="model 'x' not found"):
        await gather_replies(_request(None), failing())
