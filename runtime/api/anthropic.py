"""Anthropic's Messages API: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``,
over the same :class:`~runtime.api.service.Service` as Ollama's ``/api/chat``.

A request becomes the service's chat request (:mod:`runtime.api.anthropic_request`); its
answer is Anthropic's ``message`` object, or, with ``"stream": true``, server-sent events
named by their type (``event: content_block_delta`` / ``data: {…}``), as Anthropic sends
them (:mod:`runtime.api.anthropic_answer`). As on the other routes, a stream's first piece
is computed before the response starts, so that an early error gets its own status; a
later one ends the stream with an ``error`` event. Errors are Anthropic's
``{"type": "error", "error": {"type", "message"}}`` (:func:`runtime.api.errors.error_body`
chooses the shape by path), and a prompt longer than the context is refused in
Anthropic's words ("prompt is too long"), which clients such as Claude Code look for to
compact a conversation.

``count_tokens`` renders the prompt ``/v1/messages`` would send and has the model's
runner tokenize it (loading the model if need be): the count is exact, and nothing is
generated.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from builder.store.names import ModelName
from builder.templates.conversation import check_messages
from ladle.errors import ContextOverflowError, InvalidFieldError, InvalidOptionError, LadleError
from runtime.api.anthropic_answer import MessageAnswer, StopSequences
from runtime.api.anthropic_request import (
    chat_body,
    function_tools,
    read_conversation,
    think_of,
    tool_choice,
)
from runtime.api.anthropic_schemas import (
    CountTokensBody,
    MessagesBody,
    ThinkingAdaptive,
    ThinkingEnabled,
)
from runtime.api.errors import error_body, error_of
from runtime.api.gather import gather_replies
from runtime.api.ollama import charged, service
from runtime.api.openapi import SSE, anthropic_answers
from runtime.api.responses import AnthropicMessage, AnthropicStreamEvent, TokenCount
from runtime.api.service import Reply, Service
from runtime.images import ResolvedModel

IMAGES_FIELD = "messages.images"
"""The field the service names when it refuses a conversation's images."""
OPTION_FIELDS = {"num_predict": "max_tokens", "stop": "stop_sequences"}
"""The Anthropic field behind an option (the sampling fields have the options' names)."""

router = APIRouter(prefix="/v1/messages")
logger = logging.getLogger(__name__)
Served = Depends(service)


@router.post(
    "",
    response_model=None,
    responses=anthropic_answers(
        AnthropicMessage, 400, 404, 413, 500, 503, event=AnthropicStreamEvent
    ),
)
async def messages(body: MessagesBody, request: Request, served: Service = Served) -> Response:
    model = await served.scheduler.resolve(ModelName.parse(body.model))
    image_stops = _image_stops(model) if body.stop_sequences else ()
    choice = tool_choice(body)
    think = think_of(body, _reasons(model), choice)
    first_image = None
    try:
        chat, conversation = chat_body(body, choice, think, image_stops)
        first_image = conversation.first_image
        replies = choice.limited(charged(await served.chat(chat, choice), request))
        return await _respond(request, _answer(body, image_stops), replies, body.stream)
    except (InvalidFieldError, InvalidOptionError) as error:
        asked = "thinking" if body.thinking is not None else "output_config.effort"
        raise _in_anthropic_terms(error, first_image, asked) from None
    except ContextOverflowError as error:
        return _refusal(request, 400, prompt_too_long(error))


@router.post(
    "/count_tokens",
    response_model=None,
    responses=anthropic_answers(TokenCount, 400, 404, 413, 500, 503),
)
async def count_tokens(body: CountTokensBody, served: Service = Served) -> dict[str, int]:
    conversation, choice = read_conversation(body), tool_choice(body)
    if conversation.first_image:
        reason = "ladle cannot count an image's tokens yet (/v1/messages reads images)"
        raise InvalidFieldError(conversation.first_image, reason)
    turns = check_messages(conversation.messages, "messages")
    tools = choice.prompt_tools(function_tools(body))

    def render(model: ResolvedModel) -> str:
        think = think_of(body, _reasons(model), choice)
        return model.prompt_source().render(turns, tools, think=think)

    model, prompt = await served.scheduler.prepare(ModelName.parse(body.model), render)
    async with served.scheduler.use(model) as loaded:
        tokens = await loaded.handle.tokenize(prompt)
    return {"input_tokens": len(tokens)}


def _answer(body: MessagesBody, image_stops: tuple[str, ...]) -> MessageAnswer:
    requested = body.stop_sequences
    stops = StopSequences(requested, image_stops) if requested else None
    thinking = body.thinking
    omitted = isinstance(thinking, ThinkingEnabled | ThinkingAdaptive) and (
        thinking.display == "omitted"
    )
    return MessageAnswer(
        body.model, max_tokens=body.max_tokens, stops=stops, show_thinking=not omitted
    )


def _in_anthropic_terms(
    error: InvalidFieldError | InvalidOptionError, image: str | None, think: str
) -> LadleError:
    """``error`` naming the request's field as Anthropic's API names it: the service
    names Ollama's (``think``, ``num_predict``, the images of a turn); ``image`` is where
    the first image block is, ``think`` the field that asked to think."""
    if isinstance(error, InvalidOptionError):
        field = OPTION_FIELDS.get(error.option, error.option)
        return InvalidFieldError(field, f"{error.value!r}: {error.reason}")
    if error.field == IMAGES_FIELD and image is not None:
        return InvalidFieldError(image, error.reason)
    return InvalidFieldError(think if error.field == "think" else error.field, error.reason)


def prompt_too_long(error: ContextOverflowError) -> str:
    """Anthropic's words for a prompt over the context."""
    return (
        f"prompt is too long: {error.n_tokens} tokens > {error.n_ctx} maximum "
        "(the model's context, num_ctx)"
    )


def _reasons(model: ResolvedModel) -> bool:
    """Whether ``model`` thinks (its capabilities, as ``/api/show`` lists them)."""
    return "thinking" in model.image.capabilities


def _image_stops(model: ResolvedModel) -> tuple[str, ...]:
    """The stop strings of ``model``'s image (PARAMETER stop)."""
    stops = model.image.params.get("stop") or ()
    return (stops,) if isinstance(stops, str) else tuple(str(stop) for stop in stops)


def _refusal(request: Request, status: int, message: str) -> JSONResponse:
    return JSONResponse(error_body(request.url.path, message, status), status_code=status)


async def _respond(
    request: Request, answer: MessageAnswer, replies: AsyncGenerator[Reply, None], stream: bool
) -> Response:
    if not stream:
        gathered = await gather_replies(request, replies)
        return gathered if isinstance(gathered, Response) else JSONResponse(answer.whole(gathered))
    first = await anext(replies)  # errors before the first piece get their own status
    path = request.url.path

    async def events() -> AsyncIterator[bytes]:
        try:
            for event in answer.opening():
                yield _event(event)
            for event in answer.events(first):
                yield _event(event)
            async for reply in replies:
                for event in answer.events(reply):
                    yield _event(event)
        except Exception as error:
            if not isinstance(error, LadleError):
                logger.exception("a stream failed")
            yield _event(error_of(path, error)[0])
        finally:
            await replies.aclose()

    return StreamingResponse(events(), media_type=SSE)


def _event(value: dict[str, Any]) -> bytes:
    """One server-sent event, named by its type as Anthropic names them."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return f"event: {value['type']}\ndata: {text}\n\n".encode()
