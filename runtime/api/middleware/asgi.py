"""Small pieces shared by ladle's pure-ASGI middleware (security, limits, metrics, JSON
bodies).

The middleware is plain ASGI rather than Starlette's ``BaseHTTPMiddleware`` so that
streamed responses (NDJSON, server-sent events) pass through chunk by chunk, never
buffered, and refusals are written straight to ``send`` before the app runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.types import Message, Receive, Scope, Send

from runtime.api.errors import error_body

Headers = list[tuple[bytes, bytes]]


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of request header ``name`` (lower case), decoded as Latin-1."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app ``body``, already read whole by a middleware, then
    the client's next message (``http.disconnect``, which streaming responses wait for)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def send_json(
    send: Send, status: int, body: dict[str, object], headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """A whole JSON response, headers and body, written to ``send``."""
    content = json.dumps(body).encode()
    start: Headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": content})


async def refuse(
    scope: Scope,
    send: Send,
    status: int,
    message: str,
    *,
    code: str,
    kind: str | None = None,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Answer ``status`` with :func:`~runtime.api.errors.error_body`, in the shape the
    request's path expects."""
    body = error_body(scope.get("path", ""), message, status, code=code, kind=kind)
    await send_json(send, status, body, headers)
