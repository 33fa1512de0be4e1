"""A whole answer for a request with ``"stream": false``, cancelled if its client leaves.

A streamed answer stops when its client goes: the next write fails and closing the
replies cancels the generation in the runner. A gathered answer writes nothing until the
end, so nothing would notice; :func:`gather_replies` listens for the client's
``http.disconnect`` while the replies are collected, and on it closes them the same way,
so a client that times out does not leave its generation holding a sequence.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

from fastapi import Request, Response
from starlette.types import Receive

from runtime.api.middleware.metrics import CLIENT_CLOSED
from runtime.api.service import Reply


async def gather_replies(
    request: Request, replies: AsyncGenerator[Reply, None]
) -> list[Reply] | Response:
    """Every reply, or, when the client went away first, an empty 499 answer (which
    nobody reads; the metrics count it) after the generation has been cancelled."""
    collecting = asyncio.ensure_future(_collect(replies))
    leaving = asyncio.ensure_future(_disconnect(request.receive))
    try:
        await asyncio.wait({collecting, leaving}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        leaving.cancel()
        if not collecting.done():
            collecting.cancel()  # the client is gone (or this request was cancelled)
            with contextlib.suppress(asyncio.CancelledError):
                await collecting
    if collecting.cancelled():
        return Response(status_code=CLIENT_CLOSED)
    return collecting.result()


async def _collect(replies: AsyncGenerator[Reply, None]) -> list[Reply]:
    try:
        return [reply async for reply in replies]
    finally:
        await replies.aclose()


async def _disconnect(receive: Receive) -> None:
    """Return when the client has gone (the body was read before: nothing else comes)."""
    while (await receive())["type"] != "http.disconnect":
        pass
