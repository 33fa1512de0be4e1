"""Ollama's ``/api`` routes, with Ollama's paths, fields and streaming.

A streamed answer is NDJSON (``application/x-ndjson``): one JSON object per line, the
last with ``done: true``, ``done_reason`` and the counters. Its first piece is computed
before the response starts, so that a request that fails early (unknown model, bad
option, full queue) gets its own status code; an error after that ends the stream with
an ``{"error": "…"}`` line, as Ollama does. ``"stream": false`` gathers the pieces into
one object.

With ``logprobs`` a piece carries Ollama's ``logprobs`` array for its tokens (``token``,
``logprob``, ``bytes``, and ``top_logprobs`` when asked); a gathered answer carries them
all. The last piece of a non-raw ``/api/generate`` answer carries ``context``.

A reasoning model's thoughts come apart from its answer, as Ollama sends them:
``thinking`` beside ``response`` (``/api/generate``), ``message.thinking`` beside
``message.content`` (``/api/chat``), in each streamed piece as they arrive and, gathered,
whole; absent when empty (Go's omitempty).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from ladle.errors import LadleError
from ladle.versions import __version__
from runtime.api import catalog
from runtime.api.errors import public_message
from runtime.api.gather import gather_replies
from runtime.api.middleware.ratelimit import get_rate_limiter
from runtime.api.openapi import NDJSON, api_answers
from runtime.api.responses import (
    ChatResponse,
    EmbeddingsResponse,
    EmbedResponse,
    GenerateResponse,
    PsResponse,
    ShowResponse,
    TagsResponse,
    VersionResponse,
)
from runtime.api.schemas import (
    ChatBody,
    CopyBody,
    EmbedBody,
    EmbeddingsBody,
    GenerateBody,
    NamedBody,
)
from runtime.api.service import Reply, Service
from runtime.protocol import TokenLogprob, TokenProbability

Shape = Callable[[Reply], dict[str, Any]]

router = APIRouter()
logger = logging.getLogger(__name__)


def service(request: Request) -> Service:
    """The app's :class:`Service` (made by the lifespan in :mod:`runtime.api.app`)."""
    found: Service = request.app.state.service
    return found


Served = Depends(service)


@router.get("/", response_class=PlainTextResponse)
@router.head("/", response_class=PlainTextResponse)
async def root() -> str:
    return "ladle is running"


@router.get("/api/version", response_model=None, responses=api_answers(VersionResponse))
async def version() -> dict[str, str]:
    return {"version": __version__}


@router.post(
    "/api/generate",
    response_model=None,
    responses=api_answers(GenerateResponse, 400, 404, 413, 500, 503, stream=True),
)
async def generate(body: GenerateBody, request: Request, served: Service = Served) -> Response:
    replies = charged(await served.generate(body), request)
    shape = _generate_shape(body.model)
    return await _answer(request, replies, shape, body.stream, _gather_generate)


@router.post(
    "/api/chat",
    response_model=None,
    responses=api_answers(ChatResponse, 400, 404, 413, 500, 503, stream=True),
)
async def chat(body: ChatBody, request: Request, served: Service = Served) -> Response:
    replies = charged(await served.chat(body), request)
    return await _answer(request, replies, _chat_shape(body.model), body.stream, _gather_chat)


@router.post(
    "/api/embed", response_model=None, responses=api_answers(EmbedResponse, 400, 404, 413, 500, 503)
)
async def embed(body: EmbedBody, served: Service = Served) -> dict[str, Any]:
    result = await served.embed(body)
    return {
        "model": body.model,
        "embeddings": result.vectors,
        "total_duration": result.total_duration_ns,
        "load_duration": result.load_duration_ns,
        "prompt_eval_count": result.prompt_eval_count,
    }


@router.post(
    "/api/embeddings",
    response_model=None,
    responses=api_answers(EmbeddingsResponse, 400, 404, 413, 500, 503),
)
async def embeddings(body: EmbeddingsBody, served: Service = Served) -> dict[str, Any]:
    """The older endpoint: one text, one ``embedding``."""
    if not body.prompt:
        return {"embedding": []}
    request = EmbedBody(
        model=body.model, input=body.prompt, options=body.options, keep_alive=body.keep_alive
    )
    result = await served.embed(request)
    return {"embedding": result.vectors[0]}


@router.get("/api/tags", response_model=None, responses=api_answers(TagsResponse))
async def tags(served: Service = Served) -> dict[str, Any]:
    return await run_in_threadpool(catalog.tags, served.store)


@router.post("/api/show", response_model=None, responses=api_answers(ShowResponse, 400, 404))
async def show(body: NamedBody, served: Service = Served) -> dict[str, Any]:
    return await run_in_threadpool(
        partial(catalog.show, verbose=body.verbose), served.images, body.target()
    )


@router.post(
    "/api/copy",
    response_class=Response,
    responses=api_answers(None, 400, 404, description="Copied"),
)
async def copy(body: CopyBody, served: Service = Served) -> Response:
    await run_in_threadpool(catalog.copy, served.store, body.source, body.destination)
    return Response(status_code=200)


@router.delete(
    "/api/delete",
    response_class=Response,
    responses=api_answers(None, 400, 404, description="Deleted"),
)
async def delete(body: NamedBody, served: Service = Served) -> Response:
    await run_in_threadpool(catalog.delete, served.store, body.target())
    return Response(status_code=200)


@router.get("/api/ps", response_model=None, responses=api_answers(PsResponse))
async def ps(served: Service = Served) -> dict[str, Any]:
    return await run_in_threadpool(catalog.ps, served.store, served.scheduler.ps())


# -- answers -------------------------------------------------------------------


async def _answer(
    request: Request,
    replies: AsyncGenerator[Reply, None],
    shape: Shape,
    stream: bool,
    gather: Callable[[list[Reply], Shape], dict[str, Any]],
) -> Response:
    if not stream:
        gathered = await gather_replies(request, replies)
        return gathered if isinstance(gathered, Response) else JSONResponse(gather(gathered, shape))
    first = await anext(replies)  # errors before the first piece get their own status

    async def lines() -> AsyncIterator[bytes]:
        try:
            yield _line(shape(first))
            async for reply in replies:
                yield _line(shape(reply))
        except Exception as error:
            if not isinstance(error, LadleError):
                logger.exception("a stream failed")
            yield _line({"error": public_message(error)})
        finally:
            await replies.aclose()

    return StreamingResponse(lines(), media_type=NDJSON)


async def charged(
    replies: AsyncGenerator[Reply, None], request: Request
) -> AsyncGenerator[Reply, None]:
    """``replies``, whose generated tokens are charged to the client's rate limit."""
    try:
        async for reply in replies:
            if reply.final is not None:
                limiter = get_rate_limiter(request.app)
                limiter.charge_tokens(limiter.client(request.scope), reply.final.eval_count)
            yield reply
    finally:
        await replies.aclose()


def _line(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _now() -> str:
    return catalog.timestamp(datetime.now(UTC))


def _counters(reply: Reply) -> dict[str, Any]:
    """The fields of a last piece: Ollama's counters (``prompt_eval_count`` is the whole
    prompt, cached or not) and ladle's ``prompt_cached_count``, the part of the prompt
    reused from the KV cache (``prompt_eval_duration`` is the time spent on the rest)."""
    fields: dict[str, Any] = {"done": True, "done_reason": reply.done_reason}
    fields["total_duration"] = reply.total_duration_ns
    fields["load_duration"] = reply.load_duration_ns
    if (final := reply.final) is not None:
        fields |= {
            "prompt_eval_count": final.prompt_eval_count,
            "prompt_cached_count": final.cached_tokens,
            "prompt_eval_duration": final.prompt_eval_duration_ns,
            "eval_count": final.eval_count,
            "eval_duration": final.eval_duration_ns,
        }
        if final.draft_count:  # speculative decoding proposed tokens (ladle's fields)
            fields["draft_count"] = final.draft_count
            fields["draft_accepted_count"] = final.draft_accepted_count
    return fields


def _generate_shape(model: str) -> Shape:
    def shape(reply: Reply) -> dict[str, Any]:
        piece: dict[str, Any] = {"model": model, "created_at": _now(), "response": reply.text}
        if reply.thinking:
            piece["thinking"] = reply.thinking
        piece |= _counters(reply) if reply.done else {"done": False}
        if reply.final is not None and reply.final.tokens is not None:
            piece["context"] = list(reply.final.tokens)
        return piece | _logprobs(reply.logprobs)

    return shape


def _chat_shape(model: str) -> Shape:
    def shape(reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text}
        if reply.thinking:
            message["thinking"] = reply.thinking
        if reply.tool_calls:
            message["tool_calls"] = [call.to_ollama() for call in reply.tool_calls]
        piece: dict[str, Any] = {"model": model, "created_at": _now(), "message": message}
        piece |= _counters(reply) if reply.done else {"done": False}
        return piece | _logprobs(reply.logprobs)

    return shape


def _logprobs(logprobs: tuple[TokenLogprob, ...]) -> dict[str, Any]:
    """Ollama's ``logprobs`` field (``api.Logprob``), absent when empty (its omitempty)."""
    return {"logprobs": [_ollama_logprob(entry) for entry in logprobs]} if logprobs else {}


def _ollama_logprob(entry: TokenLogprob) -> dict[str, Any]:
    """One ``api.Logprob``: the token, its ``top_logprobs`` when asked for."""
    value = _token_logprob(entry)
    if entry.top:
        value["top_logprobs"] = [_token_logprob(top) for top in entry.top]
    return value


def _token_logprob(entry: TokenProbability) -> dict[str, Any]:
    """One ``api.TokenLogprob``: ``bytes`` is left out when empty, as Go's omitempty does."""
    value: dict[str, Any] = {"token": entry.token, "logprob": entry.logprob}
    if entry.bytes:
        value["bytes"] = list(entry.bytes)
    return value


def _gathered_logprobs(replies: list[Reply]) -> dict[str, Any]:
    return _logprobs(tuple(entry for reply in replies for entry in reply.logprobs))


def _gather_generate(replies: list[Reply], shape: Shape) -> dict[str, Any]:
    whole = shape(replies[-1])
    whole["response"] = "".join(reply.text for reply in replies)
    if thinking := "".join(reply.thinking for reply in replies):
        whole["thinking"] = thinking
    return whole | _gathered_logprobs(replies)


def _gather_chat(replies: list[Reply], shape: Shape) -> dict[str, Any]:
    whole = shape(replies[-1])
    whole["message"]["content"] = "".join(reply.text for reply in replies)
    if thinking := "".join(reply.thinking for reply in replies):
        whole["message"]["thinking"] = thinking
    calls = [call.to_ollama() for reply in replies for call in reply.tool_calls]
    if calls:
        whole["message"]["tool_calls"] = calls
    return whole | _gathered_logprobs(replies)
