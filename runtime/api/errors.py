"""HTTP errors: the status of every :class:`~ladle.errors.LadleError`, chosen by type in
one table, and the JSON body it is sent as.

``/api`` errors are Ollama's ``{"error": "…"}``; ``/v1`` errors are OpenAI's
``{"error": {"message", "type", "param", "code"}}``, but ``/v1/messages`` ones are
Anthropic's ``{"type": "error", "error": {"type", "message"}}``. :func:`error_body`
writes all three, for the exception handlers here and for the middleware's refusals
(:mod:`runtime.api.middleware.asgi`).
OpenAI's ``param`` names the request field at fault, as OpenAI writes a path
(``messages[0].content``): the field of an :class:`~ladle.errors.InvalidFieldError`, the
option of an :class:`~ladle.errors.InvalidOptionError` (:func:`param_of`), the location of
a body that fails its schema (:func:`validation_param`); ``null`` for every other error.

A message says what happened, never which ``ladle`` command would help (the CLI adds
that itself, :mod:`ladle.cli.hints`). It never holds an absolute path (each becomes its
last component, so ``/home/me/.ladle/models/blobs/sha256-…`` reads ``sha256-…``) or a
stack trace: an exception outside the tree is logged and answered with a bare "internal
server error". A runner's log lines stay in the server's log.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ladle.errors import (
    BuildInputError,
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
    QuantizeRefusedError,
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
    QuantizeRefusedError: 400,  # a BuildError, but the request's choice
    BuildInputError: 400,  # a BuildError, but the request's inputs
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

ANTHROPIC_PREFIX = "/v1/messages"
"""Paths under this prefix (Anthropic's Messages API) answer errors in Anthropic's shape."""
ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
}
"""Anthropic's error ``type`` by status; any other 4xx is ``invalid_request_error`` and
any other 5xx ``api_error``, as Anthropic's error reference says."""

OPENAI_PARAMS = {"num_predict": "max_tokens"}
"""The ``/v1`` field behind an Ollama option whose name differs: a bad ``max_tokens``
(or ``max_completion_tokens``) is refused as ``num_predict``, the option it becomes."""

_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])(?:/[\w.@+=~-]+)+/?")

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def fields_renamed(names: Mapping[str, str]) -> Iterator[None]:
    """An :class:`InvalidFieldError` raised inside names the field by ``names`` (the
    service names Ollama's fields; an OpenAI route names the one its client sent)."""
    try:
        yield
    except InvalidFieldError as error:
        if error.field not in names:
            raise
        raise InvalidFieldError(names[error.field], error.reason) from None


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
    """Whether ``path`` answers errors in OpenAI's shape: ``/v1`` and everything under it
    (but Anthropic's Messages API, :func:`is_anthropic_path`)."""
    in_v1 = path == OPENAI_PREFIX or path.startswith(OPENAI_PREFIX + "/")
    return in_v1 and not is_anthropic_path(path)


def is_anthropic_path(path: str) -> bool:
    """Whether ``path`` answers errors in Anthropic's shape: ``/v1/messages`` and under."""
    return path == ANTHROPIC_PREFIX or path.startswith(ANTHROPIC_PREFIX + "/")


def anthropic_error(message: str, status: int) -> dict[str, Any]:
    """Anthropic's error object: ``{"type": "error", "error": {"type", "message"}}``."""
    kind = ANTHROPIC_ERROR_TYPES.get(status)
    kind = kind or ("invalid_request_error" if status < 500 else "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def error_body(
    path: str,
    message: str,
    status: int,
    *,
    code: str | None = None,
    kind: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    """The body of every error response, the exception handlers' and the middleware's
    refusals alike: Ollama's ``{"error": message}``, or under ``/v1`` OpenAI's error
    object, whose ``type`` is ``kind`` (by default ``invalid_request_error`` below 500,
    ``api_error`` from 500), whose ``param`` is ``param`` (the field at fault, see
    :func:`param_of`) and whose ``code`` is ``code``; under ``/v1/messages`` Anthropic's
    (:func:`anthropic_error`, its ``type`` chosen by ``status``)."""
    if is_anthropic_path(path):
        return anthropic_error(message, status)
    if not is_openai_path(path):
        return {"error": message}
    kind = kind or ("invalid_request_error" if status < 500 else "api_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_of(path: str, error: BaseException) -> tuple[dict[str, Any], int]:
    """The body and status that answer ``error`` on ``path``: its status by type, its
    public message, and on ``/v1`` the field at fault in ``param``."""
    if not isinstance(error, LadleError):
        return error_body(path, INTERNAL_ERROR, 500), 500
    status = status_of(error)
    return error_body(path, public_message(error), status, param=param_of(error)), status


def param_of(error: BaseException) -> str | None:
    """OpenAI's ``param`` for ``error``: the field or option it names, written as OpenAI
    writes a path (``messages.0.tool_calls`` reads ``messages[0].tool_calls``); None when
    no field is at fault."""
    if isinstance(error, InvalidFieldError):
        return openai_param(error.field.split("."))
    if isinstance(error, InvalidOptionError):
        return OPENAI_PARAMS.get(error.option, error.option)
    return None


def openai_param(location: Sequence[str | int]) -> str | None:
    """A field's location (``["messages", 0, "content"]``) as OpenAI's ``param`` names it
    (``messages[0].content``); None for an empty location (the body as a whole)."""
    text = ""
    for part in location:
        if isinstance(part, int) or str(part).isdigit():
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or None


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error raised by a route as JSON, with the status its type has."""

    async def ladle_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, LadleError)
        body, status = error_of(request.url.path, error)
        if status >= 500:
            logger.error("%s %s: %s", request.method, request.url.path, error)
        headers = {}
        if isinstance(error, QueueFullError):
            headers["Retry-After"] = str(error.retry_after)
        return JSONResponse(body, status_code=status, headers=headers)

    async def invalid_request(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        message, param = validation_message(error), validation_param(error)
        body = error_body(request.url.path, message, 400, param=param)
        return JSONResponse(body, status_code=400)

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
    """The first problem of a request body, naming its field. (A body that is not JSON
    never gets here: :mod:`runtime.api.middleware.json_body` answers it first.)"""
    problems = error.errors()
    if not problems:
        return "invalid request"
    problem = problems[0]
    location = [str(part) for part in _location(problem)]
    if problem.get("type") == "extra_forbidden":  # a field the route does not take
        return f"invalid request: {'.'.join(location)}: unknown field"
    field = ".".join(location) or "body"
    return f"invalid request: {field}: {problem.get('msg', 'invalid value')}"


def validation_param(error: RequestValidationError) -> str | None:
    """OpenAI's ``param`` for a body that fails its schema: the first problem's field
    (``messages``, ``messages[0].role``)."""
    problems = error.errors()
    if not problems:
        return None
    return openai_param(_location(problems[0]))


def _location(problem: Mapping[str, Any]) -> list[str | int]:
    """Where in the body a pydantic problem is: its ``loc`` without FastAPI's ``body``."""
    location = list(problem.get("loc", ()))
    return location[1:] if location[:1] == ["body"] else location
