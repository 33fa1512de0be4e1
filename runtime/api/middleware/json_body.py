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

Python's ``json`` takes more than JSON, and more than Ollama's Go decoder does; what it
takes beyond that is refused here, so that no route sees it:

- ``NaN``, ``Infinity`` and ``-Infinity``, and a number past a 64-bit float (``1e400``,
  which Python reads as infinity): JSON has no such numbers and Go refuses them;
- an integer too long for Python to read (over 4,300 digits) and nesting deeper than
  Python's parser recurses: both would otherwise raise outside the error tree (a 500);
- a string holding a lone surrogate (``"\\ud800"``, an escape with no pair): it is no
  Unicode text and cannot be encoded as UTF-8 for a tokenizer, a log or a file. The 400
  names the field that holds it (as OpenAI's ``param`` on ``/v1``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from runtime.api.errors import error_body, openai_param
from runtime.api.middleware.asgi import replay_body, send_json

JSON_CONTENT_TYPE = (b"content-type", b"application/json")
INVALID_JSON = "invalid_json"
"""The error ``code`` of a body that is not JSON."""

Location = tuple[str | int, ...]
"""Where a value is in a JSON document: its keys and list indexes, outermost first."""

_SURROGATE = re.compile("[\ud800-\udfff]")
"""A surrogate code point in a decoded string: always a lone one (a pair decodes to one
character)."""
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
"""What a surrogate looks like in a body: an escape (UTF-8 bytes cannot encode one)."""


@dataclass(frozen=True)
class BodyProblem:
    """Why a body is refused: the message, and the field at fault (``None``: the body)."""

    message: str
    location: Location | None = None


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
    """400 for a body that is not JSON (or holds what Go's decoder refuses); else the
    request goes on as ``application/json``.

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
        problem = body_problem(body)
        if problem is not None:
            await _refuse(scope, send, problem)
            return
        # In place: the outer middleware reads what the router writes into this scope
        # (the metrics' route label).
        headers = [(key, value) for key, value in scope["headers"] if key != b"content-type"]
        scope["headers"] = [*headers, JSON_CONTENT_TYPE]
        await self.app(scope, replay_body(body, receive), send)

    def _takes_json(self, scope: Scope) -> bool:
        return any(route.matches(scope)[0] is Match.FULL for route in self.routes)


async def _refuse(scope: Scope, send: Send, problem: BodyProblem) -> None:
    """400 in the shape the path expects; on ``/v1`` the field at fault is ``param``."""
    location = problem.location
    param = openai_param(location) if location is not None else None
    param = _readable(param) if param is not None else None
    code = INVALID_JSON if location is None else None
    body = error_body(scope.get("path", ""), problem.message, 400, code=code, param=param)
    await send_json(send, 400, body)


def body_problem(body: bytes) -> BodyProblem | None:
    """What keeps ``body`` from being a request body (``None`` if nothing does, or if it
    is empty: the route then names the missing fields)."""
    if not body:
        return None
    try:
        document = json.loads(body, parse_constant=_constant, parse_float=_float)
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError and the hooks'
        return BodyProblem(f"invalid request: the body is not JSON: {_reason(error)}")
    except RecursionError:
        return BodyProblem("invalid request: the body is not JSON: it nests too deeply")
    if _SURROGATE_ESCAPE.search(body) is None:
        return None  # the common case: no escape that could decode to a surrogate
    location = lone_surrogate(document)
    if location is None:
        return None
    field = _readable(".".join(map(str, location))) or "body"
    return BodyProblem(
        f"invalid request: {field}: holds a lone surrogate (an unpaired \\ud800-\\udfff "
        "escape), which is not Unicode text",
        location,
    )


def lone_surrogate(document: Any) -> Location | None:
    """Where the first string (a value or a key) holding a lone surrogate is in
    ``document``, a parsed JSON value; ``None`` if there is none. Walked with a queue,
    not recursion: the document may nest as deep as the parser allowed."""
    queue: list[tuple[Location, Any]] = [((), document)]
    for location, value in queue:  # the queue grows while it is walked
        if isinstance(value, str) and _SURROGATE.search(value):
            return location
        if isinstance(value, dict):
            for key, child in value.items():
                if _SURROGATE.search(key):
                    return (*location, key)
                queue.append(((*location, key), child))
        elif isinstance(value, list):
            queue.extend(((*location, index), child) for index, child in enumerate(value))
    return None


class _RefusedNumberError(ValueError):
    """A number Python's ``json`` reads but JSON (and Go's decoder) does not have."""


def _constant(text: str) -> float:
    raise _RefusedNumberError(f"{text} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _RefusedNumberError(f"the number {_abridged(text)} is out of range of a 64-bit float")
    return value


def _reason(error: ValueError) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at line {error.lineno} column {error.colno}"
    if isinstance(error, UnicodeDecodeError):
        return f"it is not {error.encoding.upper()} text ({error.reason} at byte {error.start})"
    if isinstance(error, _RefusedNumberError):
        return str(error)
    return "it holds an integer too long to read"  # int()'s digit limit (4,300 digits)


def _abridged(text: str, keep: int = 24) -> str:
    return text if len(text) <= keep else f"{text[:keep]}…"


def _readable(text: str) -> str:
    """``text`` with its surrogates written as escapes, so that the message encodes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


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
