"""OpenAI's ``/v1`` routes, over the same :class:`~runtime.api.service.Service` as
Ollama's ``/api/chat``, ``/api/generate`` and ``/api/embed``.

A request's OpenAI fields become the service's: ``max_tokens`` (or
``max_completion_tokens``) is ``num_predict``, ``response_format`` is ``format``
(``json_object`` → ``"json"``, ``json_schema`` → its schema), the sampling fields are
options of the same names; ``logprobs``/``top_logprobs`` (a chat) and the legacy integer
``logprobs`` (a completion) ask for the tokens' log-probabilities; ``reasoning_effort``
(or a chat's ``reasoning.effort``) is ``think``, as Ollama's OpenAI layer maps it. The
answer is OpenAI's ``chat.completion`` or ``text_completion`` object (shaped by
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
from builder.templates.thinking import Think
from ladle.errors import InvalidFieldError, LadleError
from runtime.api.errors import error_of, fields_renamed
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
    """A ``/v1`` body or part of one: a field ladle does not take is a 400 whose ``param``
    names it, and values are strict JSON types (``"stream": "yes"`` is refused), as
    OpenAI's API answers them."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


WITHOUT_EFFECT = {
    "user": "OpenAI's end-user id, for its abuse monitoring; ladle monitors no one",
    "response_format.json_schema.description": "a note to the model on the format; the "
    "schema itself constrains the answer (a grammar), whatever the note says",
}
"""OpenAI request fields ladle accepts and does nothing with, and why (docs/api.md lists
them too); every other field ladle does not implement is refused."""


class _Request(_Body):
    """The fields of every ``/v1`` request that are accepted without effect."""

    user: str | None = Field(
        None, description=f"Accepted without effect: {WITHOUT_EFFECT['user']}."
    )


class StreamOptions(_Body):
    include_usage: bool = False


class JsonSchemaFormat(_Body):
    name: str = ""
    description: str | None = Field(
        None,
        description="Accepted without effect: "
        f"{WITHOUT_EFFECT['response_format.json_schema.description']}.",
    )
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class ResponseFormat(_Body):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    def format(self) -> FormatField:
        if self.type == "json_schema" and self.json_schema and self.json_schema.schema_:
            return self.json_schema.schema_
        return "json" if self.type != "text" else None


class _Sampled(_Request):
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


REASONING_EFFORTS: dict[str, Think] = {
    "none": False,
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "max": "max",
    "xhigh": "max",
    "ultra": "max",
}
"""OpenAI's ``reasoning_effort`` as Ollama's ``think`` (``openai/openai.go``,
``thinkFromReasoningEffort``): OpenAI's scale reaches past Ollama's on both ends, and
the ends are clamped to the nearest level rather than refused."""


def think_of(effort: str | None, field: str = "reasoning_effort") -> Think:
    """The ``think`` of a ``reasoning_effort`` (unset: the model's default); an effort
    OpenAI does not define is a 400 naming ``field``."""
    if not effort:
        return None
    if effort not in REASONING_EFFORTS:
        known = ", ".join(f'"{name}"' for name in REASONING_EFFORTS)
        raise InvalidFieldError(field, f'invalid reasoning value: "{effort}" (must be {known})')
    return REASONING_EFFORTS[effort]


class ReasoningOption(_Body):
    """``reasoning: {"effort": …}``, the Responses API's spelling, which Ollama's chat
    completions take too (before ``reasoning_effort``)."""

    effort: str | None = None


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
    reasoning_effort: str | None = None
    reasoning: ReasoningOption | None = None

    def think(self) -> Think:
        """``reasoning.effort`` (first, as Ollama reads it) or ``reasoning_effort``."""
        nested = self.reasoning.effort if self.reasoning is not None else None
        return think_of(nested, "reasoning.effort") if nested else think_of(self.reasoning_effort)

    @property
    def _nested(self) -> bool:
        return self.reasoning is not None and bool(self.reasoning.effort)

    @property
    def effort_field(self) -> str:
        """The field the client set the effort with, for errors about ``think``."""
        return "reasoning.effort" if self._nested else "reasoning_effort"

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
            think=self.think(),
        )


class CompletionBody(_Sampled):
    """``POST /v1/completions``: one prompt, continued through the image's template."""

    model_config = examples({"model": "sre-bot", "prompt": QUESTION, "max_tokens": 8})

    prompt: str
    suffix: str | None = None
    """The text after the completion: the model fills in the middle between ``prompt``
    and it (a model with the ``insert`` capability; otherwise a 400 naming ``suffix``)."""
    logprobs: TopLogprobsField | None = None
    """The legacy field: how many likeliest tokens to list at each position (0 lists
    none but still reports the generated tokens')."""
    reasoning_effort: str | None = None

    def to_generate(self) -> GenerateBody:
        return GenerateBody(
            model=self.model,
            prompt=self.prompt,
            suffix=self.suffix,
            options=self.options(self.max_tokens),
            logprobs=self.logprobs is not None,
            top_logprobs=self.logprobs or 0,
            shift=False,  # OpenAI's finish_reason "length" at the context's end
            think=think_of(self.reasoning_effort),
        )


class EmbeddingBody(_Request):
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
        images = [_image(p, number) for p in parts if p.get("type") == "image_url"]
        if images:
            converted["images"] = images
    if calls := message.get("tool_calls"):
        converted["tool_calls"] = [_call(call, number) for call in calls]
    return converted


def _image(part: dict[str, Any], number: int) -> str:
    """An ``image_url`` part's data URL (runtime.api.vision decodes it); ladle fetches
    no remote image, so an http(s) URL is refused, naming the field."""
    url = part.get("image_url")
    url = url.get("url", "") if isinstance(url, dict) else url
    if not isinstance(url, str) or not url.startswith("data:"):
        field = f"messages.{number}.content.image_url"
        raise InvalidFieldError(field, "ladle fetches no remote images: send a data URL")
    return url


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
    with fields_renamed({"think": body.effort_field}):
        chat = await served.chat(body.to_chat(), choice)
    replies = choice.limited(charged(chat, request))
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
    with fields_renamed({"think": "reasoning_effort"}):
        generated = await served.generate(body.to_generate())
    replies = charged(generated, request)
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
