"""The contract between the server side (scheduler, HTTP API) and a runner process.

A runner is a child process that holds one loaded model (weights, adapters, one llama.cpp
context shared by up to ``num_parallel`` sequences) and serves generation, embedding and
tokenizing requests. The server side talks to it only through :class:`RunnerHandle`
(implemented in ``runtime.runner``), with the messages below. Everything here is plain
data: the API layer maps HTTP requests to it, the TUI never sees it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from ladle.errors import LadleError
from ladle.settings import FlashAttention, KVCacheType
from modelfile.parameters import DEFAULT_DRAFT_NUM_PREDICT, MAX_DRAFT_NUM_PREDICT, MAX_SPEC_NGRAM


class AdapterSpec(BaseModel):
    """A LoRA adapter to apply, with its scale (1.0 unless a Modelfile says otherwise)."""

    model_config = ConfigDict(frozen=True)

    path: Path
    scale: float = 1.0


class PromptCacheSpec(BaseModel):
    """Where a runner saves its slots' KV caches when it closes, and reads them back
    from (``runtime.runner.prompt_cache``)."""

    model_config = ConfigDict(frozen=True)

    folder: Path = Field(description="``LADLE_CACHE_DIR``: every model's saved caches.")
    max_bytes: int = Field(gt=0, description="``LADLE_CACHE_MAX``: the folder's size cap.")
    model_digest: str = Field(description="The weights' digest (their blob's name).")


class LoadSpec(BaseModel):
    """Everything fixed when a model is loaded; a change to any of it means a reload."""

    model_config = ConfigDict(frozen=True)

    model_path: Path
    adapters: tuple[AdapterSpec, ...] = ()
    n_ctx: int = Field(4096, gt=0, description="Context tokens per sequence.")
    n_batch: int = Field(512, gt=0)
    n_gpu_layers: int = Field(0, ge=-1, description="-1: all layers.")
    main_gpu: int = 0
    n_threads: int | None = Field(None, description="None: decided from physical cores.")
    use_mmap: bool | None = None
    num_parallel: int = Field(4, ge=1, description="Sequences sharing the context.")
    embedding: bool = False
    kv_cache_type: KVCacheType = Field("f16", description="The K and V caches' element type.")
    flash_attention: FlashAttention = Field(
        "auto", description="llama.cpp's flash_attn_type: auto (where supported), on, off."
    )
    context_from_memory: bool = Field(
        False,
        description="No num_ctx was asked for: the placement chooses ``n_ctx`` from the "
        "free memory of the device the model lands on (runtime.context_size).",
    )
    projector_path: Path | None = Field(
        None,
        description="A vision projector (the image's projector layer) loaded with llama.cpp's "
        "mtmd beside the model, so that prompts may hold images (runtime.runner.multimodal).",
    )
    draft_path: Path | None = Field(
        None,
        description="A draft model (the image's DRAFT layer) loaded beside this one in the "
        "same runner, with its own context of ``num_parallel`` sequences, to propose tokens "
        "for speculative decoding (runtime.runner.speculation); its vocabulary must match.",
    )
    runner_timeout: float | None = Field(
        None,
        gt=0,
        description="Seconds the runner may go without finishing a step (a decode batch, "
        "an embedding batch) while it has requests, before it is taken for hung and killed "
        "(see runtime.runner.client); None: ``LADLE_RUNNER_TIMEOUT``'s default.",
    )
    prompt_cache: PromptCacheSpec | None = Field(
        None, description="Save and restore prompt caches on disk (None: never)."
    )


class SamplingOptions(BaseModel):
    """Per-request sampling; ``None`` means the runner's default (llama.cpp's)."""

    model_config = ConfigDict(frozen=True)

    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    min_p: float | None = None
    typical_p: float | None = None
    repeat_penalty: float | None = None
    repeat_last_n: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None


MAX_TOP_LOGPROBS = 20
"""The most alternatives a request may ask for at each token (Ollama's and OpenAI's limit)."""


IMAGE_MARKER = "<__media__>"
"""Where an image goes in a prompt's text: llama.cpp mtmd's default media marker
(``mtmd_default_marker()``), which the runner's projector splits the prompt at."""


class ImageInput(BaseModel):
    """An image of a prompt, decoded and checked by the server: plain RGB pixels."""

    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")

    width: int = Field(gt=0)
    height: int = Field(gt=0)
    rgb: bytes = Field(description="width x height x 3 bytes, row by row (base64 in JSON).")
    digest: str = Field(
        description="sha256 of the image's bytes as the client sent them: the cache of a "
        "prompt with this image is reused only for the same bytes."
    )


class GenerateRequest(BaseModel):
    """One completion: a rendered prompt (text or tokens) and how to continue it."""

    model_config = ConfigDict(frozen=True)

    prompt: str | tuple[int, ...]
    context: tuple[int, ...] = Field(
        (),
        description="Token ids before the prompt (an earlier answer's ``tokens``): the "
        "prompt text is then tokenized without the model's BOS and appended to them.",
    )
    sampling: SamplingOptions = SamplingOptions()
    stop: tuple[str, ...] = ()
    num_predict: int = Field(
        -1, description="-1: until a stop or EOS (at most 10 contexts' worth of tokens)."
    )
    num_keep: int = Field(
        4, description="Tokens after the BOS kept when the context shifts (-1: the prompt)."
    )
    grammar: str | None = Field(None, description="A GBNF grammar constraining the output.")
    grammar_after: str | None = Field(
        None,
        description="With ``grammar``: the reasoning's closing tag; the reply is free until "
        "it, and the grammar constrains what follows (a model thinks, then answers in the "
        "format).",
    )
    grammar_unless: str | None = Field(
        None,
        description="With ``grammar_after``: the reasoning's opening tag; a reply that does "
        "not start with it is constrained from its first token (None: the prompt opened the "
        "reasoning, so the reply starts inside it).",
    )
    ignore_eos: bool = False
    truncate: bool = Field(False, description="Drop old prompt tokens instead of failing.")
    shift: bool = Field(
        True,
        description="When the generation fills the context, drop its oldest tokens after "
        "``num_keep`` and go on (Ollama's ``shift``); false ends it with done_reason length.",
    )
    logprobs: bool = Field(False, description="Report each generated token's log-probability.")
    top_logprobs: int = Field(
        0, ge=0, le=MAX_TOP_LOGPROBS, description="With ``logprobs``: the N likeliest tokens too."
    )
    return_tokens: bool = Field(
        False, description="Put the prompt's and the answer's token ids in the last chunk."
    )
    spec_ngram: int = Field(
        0,
        ge=0,
        le=MAX_SPEC_NGRAM,
        description="Speculation by n-gram lookup: propose the continuation of the longest "
        "earlier match (up to this many tokens long) of the last tokens in the prompt and "
        "output (0: off).",
    )
    draft_num_predict: int = Field(
        DEFAULT_DRAFT_NUM_PREDICT,
        ge=0,
        le=MAX_DRAFT_NUM_PREDICT,
        description="The most tokens proposed (by the draft model or n-gram lookup) and "
        "verified in one step; fewer when they are unlikely to pay (0: no speculation).",
    )
    preserve: tuple[str, ...] = Field(
        (),
        description="Control tokens, by their text, to show in the answer (the reply "
        "parser's markup: gpt-oss's <|channel|>, Magistral's [THINK]); the others show "
        "as nothing, as Ollama's PreservedTokens.",
    )
    images: tuple[ImageInput, ...] = Field(
        (),
        description="The prompt's images, in the order of its IMAGE_MARKERs (the model "
        "must have a projector; each marker becomes the image's embeddings).",
    )


class TokenProbability(BaseModel):
    """A token and its log-probability under the model at one position."""

    model_config = ConfigDict(frozen=True)

    id: int
    token: str = Field(description="The token's text (invalid UTF-8 replaced).")
    bytes: tuple[int, ...] = Field(description="The token's raw bytes.")
    logprob: float = Field(le=0.0)


class TokenLogprob(TokenProbability):
    """A generated token's log-probability and, when asked, the likeliest alternatives
    at its position (most likely first)."""

    top: tuple[TokenProbability, ...] = ()


DoneReason = Literal["stop", "length", "cancelled", "error"]


class GenerateChunk(BaseModel):
    """A piece of streamed output; the last one has ``done`` and the counters."""

    model_config = ConfigDict(frozen=True)

    text: str = ""
    done: bool = False
    done_reason: DoneReason | None = None
    prompt_eval_count: int = Field(
        0,
        description="Prompt tokens, all of them: reused from the KV cache or evaluated "
        "(Ollama's prompt_eval_count; its runner reports llama.cpp's cache_n + prompt_n).",
    )
    prompt_eval_duration_ns: int = Field(0, description="Time spent evaluating the prompt.")
    eval_count: int = 0
    eval_duration_ns: int = 0
    cached_tokens: int = Field(
        0, description="Of the prompt tokens, those reused from the KV cache (not evaluated)."
    )
    logprobs: tuple[TokenLogprob, ...] = Field(
        (), description="With ``logprobs``: the tokens generated since the last chunk."
    )
    cache_source: Literal["memory", "shared", "disk"] | None = Field(
        None,
        description="Where ``cached_tokens`` came from: the slot's own cache, another "
        "slot's (a shared prefix) or a cache saved on disk (runtime.runner.prefix).",
    )
    draft_count: int = Field(
        0, description="Tokens proposed by speculation (draft model or n-gram lookup)."
    )
    draft_accepted_count: int = Field(
        0, description="Of ``draft_count``, those the model accepted (kept in the output)."
    )
    tokens: tuple[int, ...] | None = Field(
        None,
        description="With ``return_tokens``, on the last chunk: the prompt's tokens (the "
        "context's first) and the answer's, as the sequence's KV cache holds them (all of "
        "them even after a context shift dropped some from the cache).",
    )

    @property
    def prompt_evaluated(self) -> int:
        """The prompt tokens actually evaluated (the rest came from the cache)."""
        return self.prompt_eval_count - self.cached_tokens


class EmbedResult(BaseModel):
    """Embeddings of several texts, in their order, and the tokens evaluated for them."""

    model_config = ConfigDict(frozen=True)

    vectors: list[list[float]]
    prompt_eval_count: int = Field(
        0, description="Tokens evaluated, over all texts (the model's BOS/EOS included)."
    )


class RunnerInfo(BaseModel):
    """What a running runner reports about itself (for ``ps`` and logs)."""

    model_config = ConfigDict(frozen=True)

    pid: int
    load: LoadSpec
    load_duration_ns: int
    n_ctx_train: int
    gpu_layers: int
    total_layers: int
    size_bytes: int
    vram_bytes: int = 0
    flash_attention: bool | None = Field(
        None, description="Whether llama.cpp runs flash attention (None: not known)."
    )
    kv_cache_bytes: int = Field(
        0, ge=0, description="The KV cache llama.cpp allocated, all sequences (0: not known)."
    )


class RunnerHandle(Protocol):
    """The server side's view of one runner process."""

    @property
    def info(self) -> RunnerInfo: ...

    @property
    def alive(self) -> bool: ...

    def generate(self, request: GenerateRequest) -> AsyncIterator[GenerateChunk]:
        """Stream a completion; closing the iterator early cancels it in the runner."""
        ...

    async def embed(self, texts: list[str], truncate: bool = True) -> EmbedResult:
        """Pooled, L2-normalised embeddings (the model must be loaded for embedding). A
        text longer than the context is cut to fit, leaving room for the tokens the
        model adds (BOS, EOS), when ``truncate``; otherwise it fails with
        :class:`~ladle.errors.ContextOverflowError`."""
        ...

    async def tokenize(self, text: str, special: bool = True) -> list[int]: ...

    async def detokenize(self, tokens: list[int]) -> str: ...

    async def close(self, error: LadleError | None = None) -> None:
        """Finish nothing more: fail in-flight work (with ``error`` when given) and reap
        the process."""
        ...
