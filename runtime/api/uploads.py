"""Blob uploads (``POST /api/blobs/sha256:…``), bounded so that uploads cannot starve the
rest of the server.

- **A pace.** The body must keep up ``LADLE_BLOB_MIN_RATE`` over every 10 s the server
  waits for it (:class:`runtime.api.middleware.limits.UploadPace`); a slower one is cut
  off with 408 and ``Connection: close``, and its temp file removed.
- **A cap.** At most ``LADLE_MAX_UPLOADS`` uploads run at once; the next is refused at
  once with 503 and ``Retry-After`` (:class:`~ladle.errors.TooManyUploadsError`).
- **No thread held.** The body is read on the event loop, a chunk at a time, and written
  in pieces of :data:`WRITE_BYTES` from worker threads of the uploads' own (at most one
  per upload slot), so a slow upload holds no thread, and uploads never take the
  threads that ``/api/tags``, ``/api/show`` and the others run in.
- **Size.** Over ``LADLE_MAX_BLOB_BYTES`` is 413, declared or not.
- **One line.** A client that goes away mid-upload is logged in one line (and counted
  as 499); nothing is kept.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from builder.store.store import BlobWriter, Store
from ladle.errors import (
    CorruptBlobError,
    InvalidFieldError,
    RequestTimeoutError,
    RequestTooLargeError,
    TooManyUploadsError,
)
from ladle.settings import SecuritySettings
from runtime.api.errors import error_body
from runtime.api.middleware.limits import UploadPace
from runtime.api.middleware.metrics import CLIENT_CLOSED

WRITE_BYTES = 1 << 20
"""Bytes gathered on the event loop before a worker thread writes them (and hashes them)."""
RETRY_AFTER_S = 2
"""The ``Retry-After`` of an upload refused because enough are running."""

logger = logging.getLogger(__name__)


class ClientGoneError(Exception):
    """The client closed the connection before the whole body came (after ``received``
    bytes)."""

    def __init__(self, received: int) -> None:
        super().__init__(f"the client went away after {received:,} bytes")
        self.received = received


class Uploads:
    """The blob uploads running on one server: at most ``limit``, writing from at most
    ``limit`` worker threads of their own."""

    def __init__(self, limit: int) -> None:
        self.limit, self.running = limit, 0
        self.threads = anyio.CapacityLimiter(limit)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Run one upload, or raise ``TooManyUploadsError`` if ``limit`` are running."""
        if self.running >= self.limit:
            raise TooManyUploadsError(self.running, RETRY_AFTER_S)
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1


def uploads_of(app: FastAPI, security: SecuritySettings) -> Uploads:
    """The app's :class:`Uploads`, made on first use (one per app, for its lifetime)."""
    uploads = getattr(app.state, "ladle_uploads", None)
    if not isinstance(uploads, Uploads):
        uploads = app.state.ladle_uploads = Uploads(security.max_uploads)
    return uploads


async def store_upload(
    request: Request, store: Store, expected: str, security: SecuritySettings
) -> Response:
    """Stream the body into ``store``; 201 once it is kept as the blob ``expected``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > security.max_blob_bytes:
        raise _too_large(int(declared), security.max_blob_bytes)
    uploads = uploads_of(request.app, security)
    with uploads.slot():
        try:
            await _receive(request, store, expected, security, uploads.threads)
        except ClientGoneError as gone:
            logger.info("POST %s: %s; nothing kept", request.url.path, gone)
            return Response(status_code=CLIENT_CLOSED)  # nobody reads it; metrics count it
        except RequestTimeoutError as error:
            logger.info("POST %s: cut off: %s", request.url.path, error)
            body = error_body(request.url.path, str(error), 408, code="request_timeout")
            return JSONResponse(body, status_code=408, headers={"Connection": "close"})
    return Response(status_code=201)


async def _receive(
    request: Request,
    store: Store,
    expected: str,
    security: SecuritySettings,
    threads: anyio.CapacityLimiter,
) -> None:
    """Read the body at the pace, write it in pieces, keep it if it hashes right."""
    pace, limit = UploadPace(security.blob_min_rate), security.max_blob_bytes
    with store.blob_writer(expected) as writer:
        piece = bytearray()
        while True:
            message = await pace.receive(request.receive)
            if message["type"] == "http.disconnect":
                raise ClientGoneError(writer.size + len(piece))
            piece += message.get("body", b"")
            if writer.size + len(piece) > limit:
                raise _too_large(writer.size + len(piece), limit)
            more = message.get("more_body", False)
            if len(piece) >= WRITE_BYTES or not more:
                await _write(writer, bytes(piece), threads)
                piece.clear()
            if not more:
                break
        try:
            await anyio.to_thread.run_sync(writer.commit, limiter=threads)
        except CorruptBlobError as error:
            raise InvalidFieldError("digest", f"the body does not hash to {expected}") from error


async def _write(writer: BlobWriter, piece: bytes, threads: anyio.CapacityLimiter) -> None:
    if piece:
        await anyio.to_thread.run_sync(writer.write, piece, limiter=threads)


def _too_large(size: int, limit: int) -> RequestTooLargeError:
    return RequestTooLargeError("the blob", size, limit, "bytes", "LADLE_MAX_BLOB_BYTES")
