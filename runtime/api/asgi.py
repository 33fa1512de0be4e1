"""Small pieces shared by ladle's pure-ASGI middleware (security, limits, metrics).

The middleware is plain ASGI rather than Starlette's ``BaseHTTPMiddleware`` so that
streamed responses (NDJSON, server-sent events) pass through chunk by chunk, never
buffered, and refusals are written straight to ``send`` before the app runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.types import Scope, Send

Headers = list[tuple[bytes, bytes]]

OPENAI_PREFIX = "/v1"
"""Paths under this prefix answer errors in OpenAI's shape, the rest in Ollama's."""


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of request header ``name`` (lower case), decoded as Latin-1."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def is_openai_path(path: str) -> bool:
    return path == OPENAI_PREFIX or path.startswith(OPENAI_PREFIX + "/")


def error_body(path: str, message: str, *, code: str, kind: str) -> dict[str, object]:
    """``{"error": message}`` on Ollama's ``/api``; OpenAI's error object on ``/v1``."""
    if is_openai_path(path):
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return {"error": message}


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
    kind: str = "invalid_request_error",
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Answer ``status`` with an error body in the shape the request's path expects."""
    body = error_body(scope.get("path", ""), message, code=code, kind=kind)
    await send_json(send, status, body, headers)
