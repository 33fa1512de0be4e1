"""The JSON bodies ladle answers, as pydantic models, for ``/openapi.json``.

The routes build their answers as plain dicts (fast, and shaped exactly as Ollama and
OpenAI shape them); these models only *describe* those answers, so that the OpenAPI
document says what a client gets and schemathesis can check each answer against it
(``tests/runtime/api/test_schemathesis.py``). They never filter or convert a response:
the routes declare them with ``responses=``, not ``response_model=``.

Fields that a streamed piece lacks (the counters, before the last piece) are optional.
Extra fields are allowed, as a client of either API must ignore fields it does not know.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- errors --------------------------------------------------------------------


class ApiError(_Answer):
    """Ollama's error: ``{"error": "…"}``; also the last line of a failed stream."""

    error: str


class OpenAIErrorDetail(_Answer):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(_Answer):
    """OpenAI's error object."""

    error: OpenAIErrorDetail


# -- Ollama's /api -------------------------------------------------------------


class TokenLogprob(_Answer):
    """Ollama's ``api.TokenLogprob``: a token, its log-probability, its bytes."""

    token: str
    logprob: float = Field(le=0)
    bytes: list[int] | None = None


class Logprob(TokenLogprob):
    """Ollama's ``api.Logprob``: a generated token, and the likeliest tokens at its
    position (most likely first, at most ``top_logprobs``) when asked for."""

    top_logprobs: list[TokenLogprob] | None = None


class Counters(_Answer):
    """What a streamed piece says; the last one (``done: true``) has the counters."""

    model: str
    created_at: str
    done: bool
    done_reason: str | None = None
    total_duration: int | None = None
    load_duration: int | None = None
    prompt_eval_count: int | None = None
    """The prompt's tokens, all of them: reused from the KV cache or evaluated."""
    prompt_cached_count: int | None = None
    """ladle's: of ``prompt_eval_count``, the tokens reused from the KV cache (a repeated
    prompt, the earlier turns of a chat); Ollama has no such field."""
    prompt_eval_duration: int | None = None
    """Nanoseconds spent evaluating the prompt tokens that were not cached."""
    eval_count: int | None = None
    eval_duration: int | None = None
    logprobs: list[Logprob] | None = None
    """With ``logprobs``: the tokens of this piece (of the whole answer, not streamed)."""


class GenerateResponse(Counters):
    """``/api/generate``: one NDJSON line, or the whole answer with ``stream: false``."""

    response: str
    context: list[int] | None = None
    """On the last piece of a non-raw answer: the token ids of the prompt and the answer,
    to send as the next request's ``context`` (deprecated by Ollama)."""


class ToolFunction(_Answer):
    name: str
    arguments: dict[str, Any]


class ToolCall(_Answer):
    function: ToolFunction


class ReplyMessage(_Answer):
    role: str
    content: str
    tool_calls: list[ToolCall] | None = None


class ChatResponse(Counters):
    """``/api/chat``: one NDJSON line, or the whole answer with ``stream: false``."""

    message: ReplyMessage


class EmbedResponse(_Answer):
    model: str
    embeddings: list[list[float]]
    total_duration: int
    load_duration: int
    prompt_eval_count: int


class EmbeddingsResponse(_Answer):
    embedding: list[float]


class ModelDetails(_Answer):
    parent_model: str
    format: str
    family: str
    families: list[str] | None
    parameter_size: str
    quantization_level: str


class ModelSummary(_Answer):
    name: str
    model: str
    modified_at: str
    size: int
    digest: str
    details: ModelDetails


class TagsResponse(_Answer):
    models: list[ModelSummary]


class ShowResponse(_Answer):
    modelfile: str
    parameters: str
    template: str
    system: str
    license: str
    details: ModelDetails
    model_info: dict[str, Any]
    capabilities: list[str]
    modified_at: str


class RunningModel(_Answer):
    name: str
    model: str
    size: int
    digest: str
    details: ModelDetails | None
    expires_at: str
    size_vram: int
    context_length: int


class PsResponse(_Answer):
    models: list[RunningModel]


class VersionResponse(_Answer):
    version: str


class StatusResponse(_Answer):
    """A progress line of create, pull and push; the last is ``{"status": "success"}``."""

    status: str
    digest: str | None = None
    total: int | None = None
    completed: int | None = None


# -- OpenAI's /v1 --------------------------------------------------------------


class PromptTokensDetails(_Answer):
    cached_tokens: int
    """Of ``prompt_tokens``, those reused from the KV cache."""


class Usage(_Answer):
    prompt_tokens: int
    """The prompt's tokens, all of them, cached or not."""
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails | None = None


class OpenAIFunction(_Answer):
    name: str
    arguments: str
    """A JSON string, as OpenAI sends it."""


class OpenAIToolCall(_Answer):
    id: str
    type: Literal["function"]
    function: OpenAIFunction
    index: int | None = None
    """Set in streamed chunks."""


class AssistantMessage(_Answer):
    role: Literal["assistant"]
    content: str | None
    tool_calls: list[OpenAIToolCall] | None = None


class Delta(_Answer):
    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[OpenAIToolCall] | None = None


class OpenAITopLogprob(_Answer):
    token: str
    logprob: float = Field(le=0)
    bytes: list[int] | None


class OpenAITokenLogprob(OpenAITopLogprob):
    """One generated token (``choices[].logprobs.content[]``)."""

    top_logprobs: list[OpenAITopLogprob]
    """The likeliest tokens at its position, most likely first (``top_logprobs`` of them)."""


class ChatLogprobs(_Answer):
    content: list[OpenAITokenLogprob] | None
    refusal: list[OpenAITokenLogprob] | None = None


class CompletionLogprobs(_Answer):
    """The legacy completions' ``logprobs``: one entry per generated token in each list
    (``text_offset``: where the token starts in the completion's text)."""

    tokens: list[str]
    token_logprobs: list[float]
    top_logprobs: list[dict[str, float]]
    text_offset: list[int]


class _Choice(_Answer):
    index: int
    finish_reason: Literal["stop", "length", "tool_calls"] | None


class ChatChoice(_Choice):
    message: AssistantMessage
    logprobs: ChatLogprobs | None = None


class ChunkChoice(_Choice):
    delta: Delta
    logprobs: ChatLogprobs | None = None


class TextChoice(_Choice):
    text: str
    logprobs: CompletionLogprobs | None = None


class _Completion(_Answer):
    id: str
    created: int
    model: str
    system_fingerprint: str | None = None
    usage: Usage | None = None


class ChatCompletion(_Completion):
    object: Literal["chat.completion"]
    choices: list[ChatChoice]


class ChatCompletionChunk(_Completion):
    """One server-sent event of a streamed chat completion (``choices`` is empty in the
    usage chunk of ``stream_options.include_usage``)."""

    object: Literal["chat.completion.chunk"]
    choices: list[ChunkChoice]


class TextCompletion(_Completion):
    """``/v1/completions``, whole or one streamed event."""

    object: Literal["text_completion"]
    choices: list[TextChoice]


class Embedding(_Answer):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str
    """Floats, or base64 little-endian float32 with ``encoding_format: base64``."""


class EmbeddingUsage(_Answer):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(_Answer):
    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


class ModelObject(_Answer):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(_Answer):
    object: Literal["list"]
    data: list[ModelObject]
