"""``GET /openapi.json``: what every route takes and answers, errors and streams included.

FastAPI writes the request bodies from the routes' pydantic models; this module adds
what it cannot know:

- each route's answers (:func:`api_answers`, :func:`openai_answers`): the success body
  (:mod:`runtime.api.responses`) and the error statuses it can send, each with the error
  object of its API; FastAPI's 422 is dropped, since a body that does not validate is
  a 400 here (:mod:`runtime.api.errors`);
- streams: NDJSON (``application/x-ndjson``) is described as OpenAPI 3.2 describes a
  sequential media type, an array of its lines (each a piece or the error that ended the
  stream); server-sent events (``text/event-stream``) as one event, whose ``data`` is a
  JSON chunk or OpenAI's ``[DONE]``;
- the refusals of the security middleware, which any route may answer (401, 403, 408,
  413, 429; :mod:`runtime.api.middleware.security`).

``tests/runtime/api/test_schemathesis.py`` holds the server to this document.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from runtime.api import responses
from runtime.api.errors import is_anthropic_path, is_openai_path
from runtime.api.responses import AnthropicError, ApiError, OpenAIError

NDJSON = "application/x-ndjson"
SSE = "text/event-stream"
OPENAPI_PATH = "/openapi.json"

Answers = dict[int | str, dict[str, Any]]

BINARY_BODY = {
    "required": True,
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}
"""A request body of raw bytes (a blob upload), which FastAPI cannot see: the route
streams it instead of declaring it."""

REASONS = {
    400: "A bad request: the field, option or name at fault is named",
    401: "An API key is required (LADLE_API_KEYS is set) and none valid was sent",
    403: "A Host header that is not allowed, or a user key on an admin route",
    404: "No model (or blob) of that name",
    408: "The request body did not arrive within LADLE_BODY_TIMEOUT",
    413: "A body, prompt or conversation over its limit (the setting is named)",
    429: "Over the client's rate limit; Retry-After says when to try again",
    500: "The engine failed: a model that cannot load, or a runner that crashed",
    502: "The registry or Hugging Face could not be reached, or refused the request",
    503: "The queue is full (Retry-After says when to try again), or the server is stopping",
}
SECURITY_STATUSES = (401, 403, 408, 429)
"""Refusals any route may answer, before it runs."""


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _errors(model: type[BaseModel], statuses: tuple[int, ...]) -> Answers:
    return {status: {"model": model, "description": REASONS[status]} for status in statuses}


def api_answers(
    body: type[BaseModel] | None,
    *errors: int,
    stream: bool = False,
    description: str = "",
    status: int = 200,
) -> Answers:
    """An ``/api`` route's answers: ``body`` with ``status`` (also as NDJSON lines when it
    ``stream``s; no body: an empty answer) and ``errors``, each ``{"error": "…"}``."""
    success: dict[str, Any] = {"description": description or "Success"}
    if body is not None:
        success["model"] = body
    if stream and body is not None:
        lines = {"type": "array", "items": {"anyOf": [_ref(body), _ref(ApiError)]}}
        success["content"] = {NDJSON: {"schema": lines}}
    return {status: success, **_errors(ApiError, errors)}


def openai_answers(
    body: type[BaseModel],
    *errors: int,
    chunk: type[BaseModel] | None = None,
    done: bool = True,
) -> Answers:
    """A ``/v1`` route's answers: ``body``, server-sent ``chunk`` events when it streams
    (ending with ``[DONE]`` when ``done``; the Responses API's end with its last event),
    and ``errors`` as OpenAI's error object."""
    success: dict[str, Any] = {"description": "Success", "model": body}
    if chunk is not None:
        payload = {"anyOf": [_ref(chunk), _ref(OpenAIError)]}
        json_data = {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": payload,
        }
        data = {"anyOf": [{"const": "[DONE]"}, json_data]} if done else json_data
        event = {"type": "object", "required": ["data"], "properties": {"data": data}}
        success["content"] = {SSE: {"schema": event}}
    return {200: success, **_errors(OpenAIError, errors)}


def anthropic_answers(
    body: type[BaseModel], *errors: int, event: type[BaseModel] | None = None
) -> Answers:
    """A ``/v1/messages`` route's answers: ``body``, server-sent events named by their
    type when it streams (each ``event`` data, or the ``error`` that ended the stream),
    and ``errors`` as Anthropic's error object."""
    success: dict[str, Any] = {"description": "Success", "model": body}
    if event is not None:
        data = {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"anyOf": [_ref(event), _ref(AnthropicError)]},
        }
        named = {
            "type": "object",
            "required": ["event", "data"],
            "properties": {"event": {"type": "string"}, "data": data},
        }
        success["content"] = {SSE: {"schema": named}}
    return {200: success, **_errors(AnthropicError, errors)}


def install_openapi(app: FastAPI) -> None:
    """Serve ``app``'s description, finished as this module says, at ``/openapi.json``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary="Ollama's /api, OpenAI's /v1 and Anthropic's /v1/messages, served "
                "from a ladle model store",
                routes=app.routes,
            )
            components = document.setdefault("components", {}).setdefault("schemas", {})
            for path, operations in document.get("paths", {}).items():
                for operation in operations.values():
                    _finish(path, operation)
            for name in _REF.findall(json.dumps(document["paths"])):
                if name not in components:  # named by the streams' schemas only
                    _add_component(components, getattr(responses, name))
            for unused in ("HTTPValidationError", "ValidationError"):
                components.pop(unused, None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


_REF = re.compile(r'"#/components/schemas/(\w+)"')


def _add_component(components: dict[str, Any], model: type[BaseModel]) -> None:
    template = "#/components/schemas/{model}"
    schema = model.model_json_schema(ref_template=template, mode="serialization")
    for name, nested in schema.pop("$defs", {}).items():
        components.setdefault(name, nested)
    components.setdefault(model.__name__, schema)


def _finish(path: str, operation: dict[str, Any]) -> None:
    """400 instead of FastAPI's 422, and the security middleware's refusals."""
    answers: dict[str, Any] = operation.setdefault("responses", {})
    error: type[BaseModel] = OpenAIError if is_openai_path(path) else ApiError
    error = AnthropicError if is_anthropic_path(path) else error
    invalid = answers.pop("422", None)
    statuses = list(SECURITY_STATUSES)
    if invalid is not None:
        statuses.append(400)
    if "requestBody" in operation:
        statuses.append(413)
    for status in statuses:
        answers.setdefault(
            str(status),
            {
                "description": REASONS[status],
                "content": {"application/json": {"schema": _ref(error)}},
            },
        )
