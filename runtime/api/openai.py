"""OpenAI's ``/v1`` routes, over the same :class:`~runtime.api.service.Service` as
Ollama's ``/api/chat``, ``/api/generate`` and ``/api/embed``.

A request's OpenAI fields become the service's: ``max_tokens`` (or
``max_completion_tokens``) is ``num_predict``, ``response_format`` is ``format``
(``json_object`` → ``"json"``, ``json_schema`` → its schema), the sampling fields are
options of the same names; ``logprobs``/``top_logprobs`` (a chat) and the legacy integer
``logprobs`` (a completion) ask for the tokens' log-probabilities. The answer is
OpenAI's ``chat.completion`` or ``text_completion`` object (shaped by
:class:`~runtime.api.openai_answer.Answer`); streamed, it is server-sent events,
``data: <chunk>`` each, ending with ``data: [DONE]``. As in :mod:`runtime.api.ollama`, a
stream's first piece is computed before the response starts, so that an early error gets
its own status; a later one ends the stream with ``data: {"error": {…}}``. Errors are
OpenAI's error object (:func:`runtime.api.errors.error_body` chooses the shape by path).
"""

from __future__ import annotations

import base64
import json
import logging
import struct
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from builder.store.names import ModelName
from builder.store.store import Store, StoredImage
from ladle.errors import InvalidFieldError, LadleError
from runtime.api.errors import error_of
from runtime.api.gather import gather_replies
from runtime.api.ollama import charged, service
from runtime.api.openai_answer import Answer
from runtime.api.openapi import SSE, openai_answers
from runtime.api.responses import (
    ChatCompletion,
    ChatCompletionChunk,
    EmbeddingList,
    ModelList,
    ModelObject,
    TextCompletion,
)
from runtime.api.schemas import (
    QUESTION,
    ChatBody,
    EmbedBody,
    FormatField,
    GenerateBody,
    TopLogprobsField,
    examples,
)
from runtime.api.service import Reply, Service
from runtime.api.tool_choice import ToolChoice, read_tool_choice

DONE_EVENT = b"data: [DONE]\n\n"
"""OpenAI's last event of a stream."""
OWNED_BY = "library"

router = APIRouter(prefix="/v1")
logger = logging.getLogger(__name__)
Served = Depends(service)


# -- request bodies ------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class StreamOptions(_Body):
    include_usage: bool = False


class JsonSchemaFormat(_Body):
    name: str = ""
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class ResponseFormat(_Body):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    def format(self) -> FormatField:
        if self.type == "json_schema" and self.json_schema and self.json_schema.schema_:
            return self.json_schema.schema_
        return "json" if self.type != "text" else None


class _Sampled(_Body):
    """The fields both completion endpoints share."""

    model: str
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    n: int = 1

    def options(self, num_predict: int | None) -> dict[str, Any]:
        """Ollama's ``options`` for these fields (``None`` means "the image's")."""
        if self.n != 1:
            raise InvalidFieldError("n", "ladle answers one choice; n must be 1")
        return {
            "num_predict": num_predict,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "stop": self.stop,
            "presence_penalty": self.presence_penalty,
            "frequency_penalty": self.frequency_penalty,
        }

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


class ChatCompletionBody(_Sampled):
    """``POST /v1/chat/completions``."""

    model_config = examples(
        {"model": "sre-bot", "messages": [{"role": "user", "content": QUESTION}]},
        {
            "model": "sre-bot",
            "messages": [{"role": "user", "content": QUESTION}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": 8,
        },
    )

    messages: list[dict[str, Any]] = Field(min_length=1)
    max_completion_tokens: int | None = None
    response_format: ResponseFormat | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    logprobs: bool | None = None
    top_logprobs: TopLogprobsField | None = None

    def choice(self) -> ToolChoice:
        """What ``tool_choice`` and ``parallel_tool_calls`` ask (:mod:`.tool_choice`)."""
        return read_tool_choice(self.tool_choice, self.tools, self.parallel_tool_calls)

    def to_chat(self) -> ChatBody:
        return ChatBody(
            model=self.model,
            messages=[_message(message, number) for number, message in enumerate(self.messages)],
            tools=self.choice().prompt_tools(self.tools),
            format=self.response_format.format() if self.response_format else None,
            options=self.options(self.max_completion_tokens or self.max_tokens),
            logprobs=bool(self.logprobs),
            top_logprobs=self.top_logprobs or 0,
            shift=False,  # OpenAI's finish_reason "length" at the context's end
        )


class CompletionBody(_Sampled):
    """``POST /v1/completions``: one prompt, continued through the image's template."""

    model_config = examples({"model": "sre-bot", "prompt": QUESTION, "max_tokens": 8})

    prompt: str
    suffix: str | None = None
    logprobs: TopLogprobsField | None = None
    """The legacy field: how many likeliest tokens to list at each position (0 lists
    none but still reports the generated tokens')."""

    def to_generate(self) -> GenerateBody:
        return GenerateBody(
            model=self.model,
            prompt=self.prompt,
            suffix=self.suffix,
            options=self.options(self.max_tokens),
            logprobs=self.logprobs is not None,
            top_logprobs=self.logprobs or 0,
            shift=False,  # OpenAI's finish_reason "length" at the context's end
        )


class EmbeddingBody(_Body):
    """``POST /v1/embeddings``."""

    model_config = examples({"model": "sre-bot", "input": "one text"})

    model: str
    input: str | list[str]
    dimensions: int | None = Field(None, gt=0)
    encoding_format: Literal["float", "base64"] = "float"


def _message(message: dict[str, Any], number: int) -> dict[str, Any]:
    """An OpenAI message as the template takes it: text parts joined, image parts as
    ``images``, tool call arguments decoded from their JSON string."""
    converted = dict(message)
    if isinstance(content := message.get("content"), list):
        parts = [part for part in content if isinstance(part, dict)]
        converted["content"] = "".join(p.get("text", "") for p in parts if p.get("type") == "text")
        images = [_image(p) for p in parts if p.get("type") == "image_url"]
        if images:
            converted["images"] = images
    if calls := message.get("tool_calls"):
        converted["tool_calls"] = [_call(call, number) for call in calls]
    return converted


def _image(part: dict[str, Any]) -> str:
    url = part.get("image_url")
    url = url.get("url", "") if isinstance(url, dict) else str(url or "")
    return str(url).partition("base64,")[2] or str(url)


def _call(call: Any, number: int) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict):
        raise InvalidFieldError(f"messages.{number}.tool_calls", "a call needs a function")
    arguments = function.get("arguments") or "{}"
    try:
        decoded = json.loads(arguments) if isinstance(arguments, str) else arguments
    except json.JSONDecodeError:
        raise InvalidFieldError(
            f"messages.{number}.tool_calls", "a call's arguments must be a JSON string"
        ) from None
    return {**call, "function": {**function, "arguments": decoded}}


# -- routes --------------------------------------------------------------------


@router.post(
    "/chat/completions",
    response_model=None,
    responses=openai_answers(ChatCompletion, 400, 404, 413, 500, 503, chunk=ChatCompletionChunk),
)
async def chat_completions(
    body: ChatCompletionBody, request: Request, served: Service = Served
) -> Response:
    choice = body.choice()
    replies = choice.limited(charged(await served.chat(body.to_chat(), choice.grammar), request))
    answer = Answer(
        body.model, chat=True, include_usage=body.include_usage, logprobs=bool(body.logprobs)
    )
    return await _respond(request, answer, replies, body.stream)


@router.post(
    "/completions",
    response_model=None,
    responses=openai_answers(TextCompletion, 400, 404, 413, 500, 503, chunk=TextCompletion),
)
async def completions(body: CompletionBody, request: Request, served: Service = Served) -> Response:
    replies = charged(await served.generate(body.to_generate()), request)
    answer = Answer(
        body.model,
        chat=False,
        include_usage=body.include_usage,
        logprobs=body.logprobs is not None,
    )
    return await _respond(request, answer, replies, body.stream)


@router.post(
    "/embeddings",
    response_model=None,
    responses=openai_answers(EmbeddingList, 400, 404, 413, 500, 503),
)
async def embeddings(body: EmbeddingBody, served: Service = Served) -> dict[str, Any]:
    request = EmbedBody(model=body.model, input=body.input, dimensions=body.dimensions)
    result = await served.embed(request)
    encode = _base64 if body.encoding_format == "base64" else list
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": index, "embedding": encode(vector)}
            for index, vector in enumerate(result.vectors)
        ],
        "model": body.model,
        "usage": {"prompt_tokens": (count := result.prompt_eval_count), "total_tokens": count},
    }


@router.get("/models", response_model=None, responses=openai_answers(ModelList))
async def models(served: Service = Served) -> dict[str, Any]:
    images = await run_in_threadpool(lambda: list(served.store.images()))
    return {"object": "list", "data": [_model(stored) for stored in images]}


@router.get(
    "/models/{model_id:path}", response_model=None, responses=openai_answers(ModelObject, 400, 404)
)
async def model(model_id: str, served: Service = Served) -> dict[str, Any]:
    return _model(await run_in_threadpool(_stored, served.store, model_id))


def _stored(store: Store, model_id: str) -> StoredImage:
    return store.get(ModelName.parse(model_id))


def _model(stored: StoredImage) -> dict[str, Any]:
    return {
        "id": stored.name.display(),
        "object": "model",
        "created": int(stored.modified),
        "owned_by": OWNED_BY,
    }


def _base64(vector: list[float]) -> str:
    """OpenAI's ``base64`` encoding: the vector's little-endian float32 bytes."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


# -- responses -----------------------------------------------------------------


async def _respond(
    request: Request, answer: Answer, replies: AsyncGenerator[Reply, None], stream: bool
) -> Response:
    path = request.url.path
    if not stream:
        gathered = await gather_replies(request, replies)
        return gathered if isinstance(gathered, Response) else JSONResponse(answer.whole(gathered))
    first = await anext(replies)  # errors before the first piece get their own status

    async def events() -> AsyncIterator[bytes]:
        try:
            for chunk in answer.opening():
                yield _event(chunk)
            for chunk in answer.chunks(first):
                yield _event(chunk)
            async for reply in replies:
                for chunk in answer.chunks(reply):
                    yield _event(chunk)
            yield DONE_EVENT
        except Exception as error:
            yield _event(_stream_error(error, path))
        finally:
            await replies.aclose()

    return StreamingResponse(events(), media_type=SSE)


def _stream_error(error: Exception, path: str) -> dict[str, Any]:
    if not isinstance(error, LadleError):
        logger.exception("a stream failed")
    return error_of(path, error)[0]


def _event(value: dict[str, Any]) -> bytes:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return f"data: {text}\n\n".encode()
