"""HTTP errors: the status of every :class:`~ladle.errors.LadleError`, chosen by type in
one table, and the JSON body it is sent as.

``/api`` errors are Ollama's ``{"error": "…"}``; ``/v1`` errors are OpenAI's
``{"error": {"message", "type", "param", "code"}}``. :func:`error_body` writes both, for
the exception handlers here and for the middleware's refusals (:mod:`runtime.api.middleware.asgi`).

A message says what happened, never which ``ladle`` command would help (the CLI adds
that itself, :mod:`ladle.cli.hints`). It never holds an absolute path (each becomes its
last component, so ``/home/me/.ladle/models/blobs/sha256-…`` reads ``sha256-…``) or a
stack trace: an exception outside the tree is logged and answered with a bare "internal
server error". A runner's log lines stay in the server's log.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ladle.errors import (
    ContextOverflowError,
    ConversationError,
    HubError,
    InsufficientMemoryError,
    InvalidFieldError,
    InvalidNameError,
    InvalidOptionError,
    InvalidRequestError,
    LadleError,
    ModelfileError,
    ModelNotFoundError,
    QueueFullError,
    RegistryError,
    RemoteNotFoundError,
    RequestTooLargeError,
    RunnerError,
    SchedulerError,
    TemplateError,
    UnsupportedRegistryError,
)

STATUS: dict[type[LadleError], int] = {
    InvalidNameError: 400,
    InvalidOptionError: 400,
    InvalidFieldError: 400,
    ConversationError: 400,
    TemplateError: 400,
    ModelfileError: 400,
    InvalidRequestError: 400,
    ContextOverflowError: 400,
    ModelNotFoundError: 404,
    RemoteNotFoundError: 404,
    UnsupportedRegistryError: 400,
    RegistryError: 502,  # the upstream failed or refused: not this server's fault
    HubError: 502,
    RequestTooLargeError: 413,
    QueueFullError: 503,
    SchedulerError: 503,
    InsufficientMemoryError: 500,
    RunnerError: 500,
    LadleError: 500,
}
"""HTTP status by error type; the nearest class in an error's MRO decides."""

INTERNAL_ERROR = "internal server error"

OPENAI_PREFIX = "/v1"
"""Paths under this prefix answer errors in OpenAI's shape, the rest in Ollama's."""

_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])(?:/[\w.@+=~-]+)+/?")

logger = logging.getLogger(__name__)


def status_of(error: LadleError) -> int:
    """The HTTP status for ``error``, by its type."""
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def without_paths(text: str) -> str:
    """``text`` with every absolute path cut to its last component."""
    return _ABSOLUTE_PATH.sub(lambda match: match[0].rstrip("/").rsplit("/", 1)[-1], text)


def public_message(error: BaseException) -> str:
    """What a client is told about ``error``."""
    if not isinstance(error, LadleError):
        return INTERNAL_ERROR
    text = error.reason if isinstance(error, RunnerError) else str(error)
    return without_paths(text)


def is_openai_path(path: str) -> bool:
    """Whether ``path`` answers errors in OpenAI's shape: ``/v1`` and everything under it."""
    return path == OPENAI_PREFIX or path.startswith(OPENAI_PREFIX + "/")


def error_body(
    path: str, message: str, status: int, *, code: str | None = None, kind: str | None = None
) -> dict[str, Any]:
    """The body of every error response, the exception handlers' and the middleware's
    refusals alike: Ollama's ``{"error": message}``, or under ``/v1`` OpenAI's error
    object, whose ``type`` is ``kind`` (by default ``invalid_request_error`` below 500,
    ``api_error`` from 500) and whose ``code`` is ``code``."""
    if not is_openai_path(path):
        return {"error": message}
    kind = kind or ("invalid_request_error" if status < 500 else "api_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error raised by a route as JSON, with the status its type has."""

    async def ladle_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, LadleError)
        status = status_of(error)
        if status >= 500:
            logger.error("%s %s: %s", request.method, request.url.path, error)
        headers = {}
        if isinstance(error, QueueFullError):
            headers["Retry-After"] = str(error.retry_after)
        body = error_body(request.url.path, public_message(error), status)
        return JSONResponse(body, status_code=status, headers=headers)

    async def invalid_request(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        message = validation_message(error)
        return JSONResponse(error_body(request.url.path, message, 400), status_code=400)

    async def http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        body = error_body(request.url.path, str(error.detail), error.status_code)
        return JSONResponse(body, status_code=error.status_code, headers=error.headers)

    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse(error_body(request.url.path, INTERNAL_ERROR, 500), status_code=500)

    app.add_exception_handler(LadleError, ladle_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def validation_message(error: RequestValidationError) -> str:
    """The first problem of a request body, naming its field."""
    problems = error.errors()
    if not problems:
        return "invalid request"
    problem = problems[0]
    location = [str(part) for part in problem.get("loc", ()) if part != "body"]
    if problem.get("type") == "json_invalid":
        return f"invalid request: the body is not JSON ({problem.get('msg', '')})"
    field = ".".join(location) or "body"
    return f"invalid request: {field}: {problem.get('msg', 'invalid value')}"
