"""Request bodies are JSON, whatever their ``Content-Type`` says, as Ollama reads them.

Ollama's docs show ``curl http://127.0.0.1:11434/api/generate -d '{…}'``, and ``curl -d``
sends ``application/x-www-form-urlencoded``; ``requests.post(url, data=…)`` and litellm
send no content type, a browser's ``fetch`` with a string body ``text/plain``. Ollama
decodes the body as JSON in every case; FastAPI parses it only when the header says
JSON and otherwise hands the route bytes, which fail validation with a message about
dictionaries. So for every route that takes a JSON body (FastAPI's ``body_field``; the
raw ``/api/blobs/{digest}`` upload has none and is left alone) this middleware checks
that the body is JSON, answering 400 with what is wrong if it is not, and tells the
route it is JSON. An empty body passes as it is: the route names the missing fields.

It runs innermost, after :mod:`runtime.api.middleware.limits` has read the body within
its limits, and parses it from memory; FastAPI parses it again for the route. That
second parse is small beside a generation, and checking here lets the 400 say what is
wrong (FastAPI's own message is a bare "JSON decode error").
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from runtime.api.middleware.asgi import refuse, replay_body

JSON_CONTENT_TYPE = (b"content-type", b"application/json")


def install_json_bodies(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """Read the body of every route of ``routers`` that takes JSON as JSON, innermost of
    ``app``'s middleware (so after the body limits, which
    :func:`~runtime.api.middleware.security.install_security` installs)."""
    if app.middleware_stack is not None:
        raise RuntimeError("install_json_bodies must run before the app starts")
    routes = [route for router in routers for route in router.routes if takes_json(route)]
    app.user_middleware.append(Middleware(JsonBodyMiddleware, routes=routes))


def takes_json(route: BaseRoute) -> bool:
    """Whether FastAPI parses ``route``'s body as JSON (a pydantic body model; the blob
    upload, which reads its request's bytes itself, has none)."""
    return isinstance(route, APIRoute) and route.body_field is not None


class JsonBodyMiddleware:
    """400 for a body that is not JSON; else the request goes on as ``application/json``.

    Only requests for ``routes`` (which take JSON) are looked at: any other path or
    method goes on untouched, to its own answer (a blob stored, a 404, a 405).
    """

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app, self.routes = app, tuple(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._takes_json(scope):
            await self.app(scope, receive, send)
            return
        body = await _read(receive)
        if body is None:
            return  # the client went away
        problem = not_json(body)
        if problem is not None:
            message = f"invalid request: the body is not JSON: {problem}"
            await refuse(scope, send, 400, message, code="invalid_json")
            return
        # In place: the outer middleware reads what the router writes into this scope
        # (the metrics' route label).
        headers = [(key, value) for key, value in scope["headers"] if key != b"content-type"]
        scope["headers"] = [*headers, JSON_CONTENT_TYPE]
        await self.app(scope, replay_body(body, receive), send)

    def _takes_json(self, scope: Scope) -> bool:
        return any(route.matches(scope)[0] is Match.FULL for route in self.routes)


def not_json(body: bytes) -> str | None:
    """What keeps ``body`` from being JSON (``None`` if it is, or if it is empty)."""
    if not body:
        return None
    try:
        json.loads(body)
    except json.JSONDecodeError as error:
        return f"{error.msg} at line {error.lineno} column {error.colno}"
    except UnicodeDecodeError as error:
        return f"it is not {error.encoding.upper()} text ({error.reason} at byte {error.start})"
    return None


async def _read(receive: Receive) -> bytes | None:
    """The whole body, ``None`` if the client disconnected first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
