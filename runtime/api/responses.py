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
    draft_count: int | None = None
    """ladle's: tokens proposed by speculative decoding (a DRAFT model or ``spec_ngram``);
    absent when none were."""
    draft_accepted_count: int | None = None
    """ladle's: of ``draft_count``, the tokens the model accepted."""
    logprobs: list[Logprob] | None = None
    """With ``logprobs``: the tokens of this piece (of the whole answer, not streamed)."""


class GenerateResponse(Counters):
    """``/api/generate``: one NDJSON line, or the whole answer with ``stream: false``."""

    response: str
    thinking: str | None = None
    """A reasoning model's thoughts, apart from ``response`` (absent when none)."""
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
    thinking: str | None = None
    """A reasoning model's thoughts, apart from ``content`` (absent when none)."""
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


class TensorRow(_Answer):
    name: str
    type: str
    shape: list[int]


class ShowResponse(_Answer):
    modelfile: str
    parameters: str
    template: str
    system: str
    license: str
    details: ModelDetails
    model_info: dict[str, Any]
    tensors: list[TensorRow]
    capabilities: list[str]
    modified_at: str


class PromptCacheHits(_Answer):
    memory: int = Field(description="Prompts that continued their slot's own cache.")
    shared: int = Field(description="Prompts whose prefix was copied from another slot.")
    disk: int = Field(description="Prompts whose prefix was read from a saved cache.")
    tokens_saved: int = Field(description="Prompt tokens taken from caches, not evaluated.")


class SpeculationCounts(_Answer):
    drafted: int = Field(description="Tokens proposed (by the draft model or n-gram lookup).")
    accepted: int = Field(description="Of those, the tokens the model accepted.")
    acceptance_rate: float | None = Field(
        description="accepted / drafted (null before any proposal)."
    )


class RunningModel(_Answer):
    name: str
    model: str
    size: int
    digest: str
    details: ModelDetails | None
    expires_at: str
    size_vram: int
    context_length: int
    kv_cache_type: str = Field(description="ladle's: the KV cache's element type.")
    flash_attention: bool | None = Field(
        description="ladle's: whether llama.cpp runs flash attention (null: not known)."
    )
    kv_cache_bytes: int = Field(description="ladle's: the KV cache's bytes, all sequences.")
    prompt_cache: PromptCacheHits = Field(
        description="ladle's: prompt cache hits since the model loaded, and tokens saved."
    )
    draft: str | None = Field(
        description="ladle's: the draft model of speculative decoding (its weights' digest)."
    )
    speculation: SpeculationCounts = Field(
        description="ladle's: tokens proposed and accepted by speculative decoding since "
        "the model loaded."
    )


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


class _Reasoned(_Answer):
    reasoning_content: str | None = None
    """A reasoning model's thoughts (absent when none)."""
    reasoning: str | None = None
    """The same thoughts, under the name Ollama's OpenAI layer gives them."""


class AssistantMessage(_Reasoned):
    role: Literal["assistant"]
    content: str | None
    tool_calls: list[OpenAIToolCall] | None = None


class Delta(_Reasoned):
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


class TextChoice(_Choice, _Reasoned):
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


# -- OpenAI's Responses API (/v1/responses) -----------------------------------


class ResponseInputTokensDetails(_Answer):
    cached_tokens: int
    """Of ``input_tokens``, those reused from the KV cache."""
    cache_write_tokens: int
    """Of ``input_tokens``, those evaluated (and kept in the KV cache for the next turn)."""


class ResponseOutputTokensDetails(_Answer):
    reasoning_tokens: int
    """Always 0: the runner counts the answer's tokens, not which of them were reasoning."""


class ResponseUsage(_Answer):
    input_tokens: int
    input_tokens_details: ResponseInputTokensDetails
    output_tokens: int
    output_tokens_details: ResponseOutputTokensDetails
    total_tokens: int


class ResponseOutputItem(_Answer):
    """One item of a response's ``output``: the assistant's ``message`` (``content``:
    ``output_text`` parts), a ``function_call`` (``call_id``, ``name``, ``arguments`` as
    a JSON string) or the model's ``reasoning`` (``content``: ``reasoning_text`` parts,
    or ``summary`` when one was asked for)."""

    id: str
    type: Literal["message", "function_call", "reasoning"]
    status: Literal["in_progress", "completed", "incomplete"]


class ResponseIncompleteDetails(_Answer):
    reason: Literal["max_output_tokens"]


class ResponseError(_Answer):
    code: str
    message: str


class ResponseObject(_Answer):
    """``POST /v1/responses``: the ``response`` object (the request's settings repeated
    beside ``output``, ``usage`` and ``status``)."""

    id: str
    object: Literal["response"]
    created_at: int
    completed_at: int | None
    status: Literal["in_progress", "completed", "incomplete", "failed"]
    error: ResponseError | None
    incomplete_details: ResponseIncompleteDetails | None
    model: str
    output: list[ResponseOutputItem]
    usage: ResponseUsage | None
    previous_response_id: str | None
    tools: list[dict[str, Any]]
    parallel_tool_calls: bool


class ResponseStreamEvent(_Answer):
    """One server-sent event of a streamed response (``response.created``,
    ``response.output_text.delta``, …, ``response.completed``): its ``type``, its place in
    the stream, and the fields of its type."""

    type: str
    sequence_number: int = Field(ge=0)


# -- Anthropic's /v1/messages ----------------------------------------------------


class AnthropicErrorDetail(_Answer):
    type: str
    """``invalid_request_error`` (400), ``authentication_error`` (401),
    ``permission_error`` (403), ``not_found_error`` (404), ``request_too_large`` (413),
    ``rate_limit_error`` (429), ``overloaded_error`` (503), ``api_error`` (500, 502)."""
    message: str


class AnthropicError(_Answer):
    """Anthropic's error object; also the ``error`` event that ends a failed stream."""

    type: Literal["error"]
    error: AnthropicErrorDetail


class AnthropicBlock(_Answer):
    """One content block: ``text`` (``text``), ``thinking`` (``thinking``,
    ``signature``) or ``tool_use`` (``id``, ``name``, ``input``)."""

    type: Literal["text", "thinking", "tool_use"]


class AnthropicUsage(_Answer):
    input_tokens: int = Field(ge=0)
    """The prompt tokens evaluated (not read from the cache)."""
    cache_creation_input_tokens: int = Field(ge=0)
    cache_read_input_tokens: int = Field(ge=0)
    """The prompt tokens reused from the runner's KV cache."""
    output_tokens: int = Field(ge=0)


StopReason = Literal[
    "end_turn", "max_tokens", "stop_sequence", "tool_use", "model_context_window_exceeded"
]


class AnthropicMessage(_Answer):
    """``POST /v1/messages``: the assistant's ``message``."""

    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    model: str
    content: list[AnthropicBlock]
    stop_reason: StopReason | None
    stop_sequence: str | None
    usage: AnthropicUsage


class AnthropicStreamEvent(_Answer):
    """One server-sent event of a streamed message (``message_start``, ``ping``,
    ``content_block_start``, ``content_block_delta``, ``content_block_stop``,
    ``message_delta``, ``message_stop``), named by its ``type``, with that type's fields."""

    type: Literal[
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


class TokenCount(_Answer):
    """``POST /v1/messages/count_tokens``: the prompt's tokens, as ``/v1/messages`` would
    evaluate them."""

    input_tokens: int = Field(ge=0)
