"""How ``ladle serve`` ends: the requests still running when the grace period is over
are told so, in their own answer, before their connections close.

On SIGTERM (or Ctrl-C) uvicorn stops accepting connections, waits for the requests in
flight, and at its deadline cancels whatever still runs: a stream is cut mid-answer,
with no word of why. So ladle's own timer runs out first. At ``LADLE_SHUTDOWN_GRACE`` it
closes the scheduler, which fails every request still waiting or running with "the
server is shutting down": a stream ends with that error line, as docs/api.md promises
(Ollama's ``{"error": …}``, OpenAI's ``data: {"error": {…}}``), a request still queued
or gathered gets a 503. uvicorn's own deadline, :data:`FLUSH_S` later, only catches
what has not ended by then. Then the app's lifespan unloads every model.

Imported by ``ladle serve`` only (it imports uvicorn).
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
from collections.abc import Awaitable, Callable

import uvicorn
from fastapi import FastAPI

FLUSH_S = 3
"""Seconds the requests failed at the end of the grace period get to send their error
line and end, before uvicorn cancels them outright."""

StopRequests = Callable[[], Awaitable[None]]

logger = logging.getLogger(__name__)


class GracefulServer(uvicorn.Server):
    """uvicorn's server, which calls ``stop_requests`` once ``grace`` seconds of its
    shutdown have passed (uvicorn's own deadline must be later: :func:`deadline`)."""

    def __init__(self, config: uvicorn.Config, stop_requests: StopRequests, grace: float) -> None:
        super().__init__(config)
        self._stop_requests, self._grace = stop_requests, grace
        self._stopping: asyncio.Future[None] | None = None

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        timer = asyncio.get_running_loop().call_later(self._grace, self._stop)
        try:
            await super().shutdown(sockets)
        finally:
            timer.cancel()

    def _stop(self) -> None:
        logger.info("the shutdown grace period is over: ending the requests still in flight")
        self._stopping = asyncio.ensure_future(self._stop_requests())


def deadline(grace: float) -> int:
    """uvicorn's ``timeout_graceful_shutdown`` for a grace period of ``grace`` seconds."""
    return math.ceil(grace) + FLUSH_S


def scheduler_closer(app: FastAPI) -> StopRequests:
    """Closes the scheduler of ``app`` (made by its lifespan), failing its requests."""

    async def stop() -> None:
        service = getattr(app.state, "service", None)
        if service is not None:
            await service.scheduler.close()

    return stop
