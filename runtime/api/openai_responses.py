"""OpenAI's Responses API, ``POST /v1/responses``, over the same
:class:`~runtime.api.service.Service` as ``/api/chat`` and ``/v1/chat/completions``.

The body (:class:`~runtime.api.openai_responses_body.ResponsesBody`) becomes a chat: the
conversation of ``previous_response_id`` (kept in memory, bounded:
:mod:`runtime.api.openai_responses_kept`) followed by the request's ``input`` items,
``instructions`` as its system turn. The answer is the ``response`` object, or with
``"stream": true`` the Responses API's server-sent events
(:mod:`runtime.api.openai_responses_answer`), each ``event: <type>`` with its JSON as
``data``; there is no ``[DONE]``. As on the other routes, a stream's first piece is
computed before the response starts, so that an early error gets its own status; a
later one ends the stream with ``response.failed``. A service error that names a chat
field is told by the Responses field it came from (``format`` is ``text.format``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from ladle.errors import LadleError
from runtime.api.errors import fields_renamed, public_message
from runtime.api.gather import gather_replies
from runtime.api.ollama import charged, service
from runtime.api.openai_responses_answer import Event, ResponseAnswer
from runtime.api.openai_responses_body import ResponsesBody
from runtime.api.openai_responses_kept import KeptResponses
from runtime.api.openapi import SSE, openai_answers
from runtime.api.responses import ResponseObject, ResponseStreamEvent
from runtime.api.schemas import ChatBody
from runtime.api.service import Reply, Service
from runtime.api.tool_choice import ToolChoice

RENAMED = {
    "format": "text.format",
    "think": "reasoning.effort",
    "messages": "input",
    "messages.images": "input",
}
"""The chat fields the service names in its errors, and the Responses field each was."""
FINISHED = ("completed", "incomplete")

router = APIRouter(prefix="/v1")
logger = logging.getLogger(__name__)


def kept_responses(request: Request) -> KeptResponses:
    """The app's kept responses, made on first use (they live as long as the app)."""
    state = request.app.state
    kept: KeptResponses | None = getattr(state, "kept_responses", None)
    if kept is None:
        kept = state.kept_responses = KeptResponses()
    return kept


Served = Depends(service)
Kept = Depends(kept_responses)


@router.post(
    "/responses",
    response_model=None,
    responses=openai_answers(
        ResponseObject, 400, 404, 413, 500, 503, chunk=ResponseStreamEvent, done=False
    ),
)
async def create_response(
    body: ResponsesBody,
    request: Request,
    served: Service = Served,
    kept: KeptResponses = Kept,
) -> Response:
    body.check()
    earlier = kept.items(body.previous_response_id) if body.previous_response_id else ()
    items = (*earlier, *body.items())
    choice = body.choice()
    replies = await _chat(served, body.to_chat(list(items), choice), choice)
    replies = _calls_at_most(charged(replies, request), _call_limit(body, choice))
    answer = ResponseAnswer(body.echo(), body.shape())
    keep = kept if body.keeps else None
    if not body.stream:
        gathered = await gather_replies(request, replies)
        if isinstance(gathered, Response):
            return gathered
        whole = answer.whole(gathered)
        _keep(keep, answer, items)
        return JSONResponse(whole)
    first = await anext(replies)  # errors before the first piece get their own status
    return StreamingResponse(_events(answer, first, replies, keep, items), media_type=SSE)


async def _chat(served: Service, chat: ChatBody, choice: ToolChoice) -> AsyncGenerator[Reply, None]:
    """The service's replies; a field error names the Responses field (:data:`RENAMED`)."""
    with fields_renamed(RENAMED):
        return await served.chat(chat, choice)


async def _events(
    answer: ResponseAnswer,
    first: Reply,
    replies: AsyncGenerator[Reply, None],
    keep: KeptResponses | None,
    items: tuple[dict[str, Any], ...],
) -> AsyncIterator[bytes]:
    try:
        for event in answer.opening() + answer.events(first):
            yield _sse(event)
        async for reply in replies:
            for event in answer.events(reply):
                yield _sse(event)
        _keep(keep, answer, items)
    except Exception as error:
        if not isinstance(error, LadleError):
            logger.exception("a response stream failed")
        yield _sse(answer.failed(public_message(error)))
    finally:
        await replies.aclose()


def _keep(
    keep: KeptResponses | None, answer: ResponseAnswer, items: tuple[dict[str, Any], ...]
) -> None:
    """Keep a finished answer's conversation for ``previous_response_id``."""
    if keep is not None and answer.status in FINISHED:
        keep.keep(answer.id, (*items, *answer.output))


def _call_limit(body: ResponsesBody, choice: ToolChoice) -> int | None:
    """The most calls an answer may make: one without parallel calls, else
    ``max_tool_calls`` (no limit when neither says)."""
    return 1 if not choice.parallel else body.max_tool_calls


async def _calls_at_most(
    replies: AsyncGenerator[Reply, None], limit: int | None
) -> AsyncGenerator[Reply, None]:
    """``replies`` with the tool calls after the first ``limit`` left out."""
    made = 0
    try:
        async for reply in replies:
            if limit is not None and reply.tool_calls:
                kept_calls = reply.tool_calls[: max(limit - made, 0)]
                made += len(kept_calls)
                reply = replace(reply, tool_calls=kept_calls)
            yield reply
    finally:
        await replies.aclose()


def _sse(event: Event) -> bytes:
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event['type']}\ndata: {data}\n\n".encode()
