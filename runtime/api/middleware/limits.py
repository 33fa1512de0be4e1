"""Request-size limits and read timeouts.

The body is read here, before the app runs, within ``LADLE_MAX_BODY_BYTES`` and
``LADLE_BODY_TIMEOUT``: a declared ``Content-Length`` over the limit is refused without
reading a byte, a chunked body as soon as it passes the limit. The app then reads the
body from memory (FastAPI would have buffered it whole anyway), and is cancelled if the
client leaves before its answer is complete (:mod:`runtime.api.middleware.disconnect`).
Blob uploads, which may be gigabytes, are streamed to the store by their route and skip
this; :class:`UploadPace` holds them to ``LADLE_BLOB_MIN_RATE`` instead.

The prompt and message limits need the parsed request, so the service checks them
with :func:`check_request_size`. Headers are read by the server, before any ASGI app
runs: :func:`header_timeout_protocol` gives uvicorn a protocol that closes connections
whose headers do not arrive in time (uvicorn has no such setting).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from ladle.errors import RequestTimeoutError, RequestTooLargeError
from ladle.settings import Settings
from runtime.api.middleware.asgi import header, refuse
from runtime.api.middleware.disconnect import serve_until_gone

UNLIMITED_PREFIXES = ("/api/blobs/",)
"""Paths whose bodies are streamed by their route, with a limit of their own."""

_CLOSE = [(b"connection", b"close")]
"""Sent with a refusal that leaves the body unread, so the connection is not reused."""

PACE_WINDOW_S = 10.0
"""The span over which :class:`UploadPace` judges an upload's rate."""


class BodyLimitMiddleware:
    """Reads each request body within a size cap and a deadline, 413 or 408 otherwise,
    then runs the app until the client leaves."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float) -> None:
        self.app, self.max_bytes, self.timeout = app, max_bytes, timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UNLIMITED_PREFIXES):
            await self.app(scope, receive, send)
            return
        try:
            body = await asyncio.wait_for(self._read(scope, receive), self.timeout or None)
        except RequestTooLargeError as error:
            await refuse(scope, send, 413, str(error), code="request_too_large", headers=_CLOSE)
            return
        except TimeoutError:
            message = f"the request body did not arrive within {self.timeout:g} s"
            await refuse(scope, send, 408, message, code="request_timeout", headers=_CLOSE)
            return
        if body is None:
            return  # the client went away
        await serve_until_gone(self.app, scope, body, receive, send)

    async def _read(self, scope: Scope, receive: Receive) -> bytes | None:
        declared = header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit():
            self._check(int(declared))
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            self._check(size)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _check(self, size: int) -> None:
        if size > self.max_bytes:
            raise RequestTooLargeError(
                "the body", size, self.max_bytes, "bytes", "LADLE_MAX_BODY_BYTES"
            )


class UploadPace:
    """Holds a streamed body (a blob upload) to ``min_rate`` bytes a second, judged over
    each :data:`PACE_WINDOW_S` the server spends waiting for it: an upload that falls
    behind is cut off whatever it sent before, so that nobody holds an upload slot with
    a trickle. Only the time spent waiting for the client counts, not the server's own
    time writing to disk, so a slow disk is never blamed on the client."""

    def __init__(
        self,
        min_rate: int,
        window: float = PACE_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.min_rate, self.window, self._clock = min_rate, window, clock
        self._waited = 0.0
        self._received = 0

    async def receive(self, receive: Receive) -> Message:
        """The next message of ``receive``; ``RequestTimeoutError`` once the body falls
        behind the pace."""
        while True:
            started = self._clock()
            try:
                async with asyncio.timeout(self.window - self._waited):
                    message: Message | None = await receive()
            except TimeoutError:  # uvicorn's receive keeps what arrives meanwhile
                message = None
            self._waited += self._clock() - started
            if message is not None:
                self._received += len(message.get("body", b""))
            self._judge()
            if message is not None:
                return message

    def _judge(self) -> None:
        """At the end of a window: refuse an upload that fell behind, else start anew."""
        if self._waited < self.window:
            return
        if self._received < self.min_rate * self.window:
            rate = self._received / self._waited
            raise RequestTimeoutError(
                f"the upload sent {rate:,.0f} bytes a second over the last {self._waited:.0f} s, "
                f"fewer than {self.min_rate:,}",
                "LADLE_BLOB_MIN_RATE",
            )
        self._waited, self._received = 0.0, 0


def check_request_size(
    prompt: str | None, messages: Sequence[Any] | None, settings: Settings
) -> None:
    """Refuse (:class:`RequestTooLargeError`, HTTP 413) a prompt longer than
    ``LADLE_MAX_PROMPT_CHARS`` (with the text of every message counted) or more messages
    than ``LADLE_MAX_MESSAGES``."""
    limits = settings.security
    count = len(messages or ())
    if count > limits.max_messages:
        raise RequestTooLargeError(
            "the conversation", count, limits.max_messages, "messages", "LADLE_MAX_MESSAGES"
        )
    chars = len(prompt or "") + sum(_text_length(_field(m, "content")) for m in messages or ())
    if chars > limits.max_prompt_chars:
        raise RequestTooLargeError(
            "the prompt", chars, limits.max_prompt_chars, "characters", "LADLE_MAX_PROMPT_CHARS"
        )


def _field(item: object, name: str) -> object:
    """``item[name]`` of a JSON object, ``item.name`` of a parsed one, else ``None``."""
    if isinstance(item, Mapping):
        return item.get(name)
    return getattr(item, name, None)


def _text_length(content: object) -> int:
    """Characters in a message's content: a string, or OpenAI's list of parts."""
    if isinstance(content, str):
        return len(content)
    if isinstance(content, Sequence):
        return sum(_text_length(_field(part, "text")) for part in content)
    return 0


def header_timeout_protocol(seconds: float) -> type[H11Protocol]:
    """A uvicorn HTTP protocol (``uvicorn.Config(http=...)``) that closes a connection
    whose request headers take longer than ``seconds`` (0: no limit) to arrive.

    uvicorn's keep-alive timer is cancelled by any byte received, so a client sending
    one header byte at a time would otherwise hold its connection forever.
    """

    class HeaderTimeoutProtocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._disarm()  # the headers are in

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self.conn.their_state is h11.IDLE:
                self._arm()  # the next request's headers

        def _arm(self) -> None:
            self._disarm()
            if seconds > 0:
                self._deadline = self.loop.call_later(seconds, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

    return HeaderTimeoutProtocol
