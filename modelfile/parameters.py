"""The PARAMETER table: every parameter Ollama knows, with its type, range and default.

:class:`Parameters` is the single definition. Values arrive as text and are read with
Go's rules, as Ollama's ``api.FormatParams`` reads them (``strconv.ParseInt`` base 10,
``ParseFloat``, ``ParseBool``), then range-checked by pydantic. ``stop`` accumulates;
every other parameter keeps its last value.
"""

from __future__ import annotations

import re
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from ladle.settings import KVCacheType

Kind = Literal["int", "float", "bool", "list", "str"]

INT32_MAX = 2**31 - 1
"""The largest C ``int``: llama.cpp's type for ``top_k``, ``num_gpu``, ``main_gpu``."""
MAX_NUM_CTX = 2**24
"""16,777,216 tokens: more than any model's trained context (the longest, 10M), and
small enough that ``num_parallel`` such sequences still count in llama.cpp's 32 bits."""
MAX_NUM_BATCH = 2**16
"""65,536 tokens evaluated at once: llama.cpp sizes its batch and compute buffers by
``num_batch`` (512 by default); past this a prompt is no faster, only memory is spent."""
GGML_MAX_THREADS = 512
"""``GGML_MAX_N_THREADS``: llama.cpp aborts (SIGABRT) above it."""
MAX_SPEC_NGRAM = 16
"""The longest n-gram that speculation by lookup matches (``spec_ngram``)."""
DEFAULT_DRAFT_NUM_PREDICT = 8
"""The most tokens one speculative step proposes unless an image or request says
otherwise (docs/BENCHMARKS.md, "Speculative decoding": what a verify batch costs)."""
MAX_DRAFT_NUM_PREDICT = 64
"""The most one step may propose: the verify batch grows with it."""


def _param(
    default: JsonValue,
    description: str,
    example: str,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
) -> Any:
    extra: dict[str, JsonValue] = {"runtime_default": default, "example": example}
    return Field(None, description=description, json_schema_extra=extra, ge=ge, gt=gt, le=le)


class Parameters(BaseModel):
    """Typed parameters of a model image; ``None`` means "not set, use the runtime default"."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # Sampling and prediction (may be overridden per request).
    num_keep: int | None = _param(
        4, "Tokens of the prompt kept when the context shifts.", "24", ge=-1
    )
    seed: int | None = _param(
        -1, "Random seed; the same seed and prompt give the same text (-1: random).", "42"
    )
    num_predict: int | None = _param(
        -1, "Most tokens to generate (-1: no limit, -2: fill the context).", "256", ge=-2
    )
    top_k: int | None = _param(
        40, "Sample from the k most likely tokens (0: all).", "40", ge=0, le=INT32_MAX
    )
    top_p: float | None = _param(
        0.9,
        "Nucleus sampling: smallest set of tokens with this total probability.",
        "0.9",
        ge=0,
        le=1,
    )
    min_p: float | None = _param(
        0.0,
        "Drop tokens less likely than this fraction of the most likely one.",
        "0.05",
        ge=0,
        le=1,
    )
    typical_p: float | None = _param(1.0, "Locally typical sampling (1.0: off).", "1.0", ge=0, le=1)
    repeat_last_n: int | None = _param(
        64,
        "How far back to look for repetitions (0: off, -1: num_ctx).",
        "64",
        ge=-1,
        le=MAX_NUM_CTX,
    )
    temperature: float | None = _param(0.8, "Randomness of sampling (0: greedy).", "0.7", ge=0)
    repeat_penalty: float | None = _param(
        1.1, "Penalty for repeated tokens (1.0: off).", "1.1", ge=0
    )
    presence_penalty: float | None = _param(0.0, "Penalty for tokens already present.", "0.0")
    frequency_penalty: float | None = _param(
        0.0, "Penalty proportional to how often a token appeared.", "0.0"
    )
    stop: list[str] | None = _param(
        [], "A stop sequence; repeat the line for several.", '"<|im_end|>"'
    )
    # Speculative decoding (runtime.runner.speculation); request options too.
    spec_ngram: int | None = _param(
        0,
        "Speculate by n-gram lookup: propose what followed the longest earlier match "
        "(up to N tokens) of the last tokens in the prompt and output, as far as the "
        "latest 8 matches agree on each next token (0: off).",
        "4",
        ge=0,
        le=MAX_SPEC_NGRAM,
    )
    draft_num_predict: int | None = _param(
        DEFAULT_DRAFT_NUM_PREDICT,
        "Most tokens proposed (by the DRAFT model or spec_ngram) and verified per step; "
        "fewer when they would not pay (0: no speculation).",
        "8",
        ge=0,
        le=MAX_DRAFT_NUM_PREDICT,
    )

    # Runner options (fixed when the model is loaded).
    num_ctx: int | None = _param(
        4096,
        "Context window in tokens (unset: LADLE_CONTEXT_LENGTH, else from free memory).",
        "4096",
        gt=0,
        le=MAX_NUM_CTX,
    )
    num_batch: int | None = _param(
        512, "Prompt tokens evaluated per batch.", "512", gt=0, le=MAX_NUM_BATCH
    )
    num_gpu: int | None = _param(
        -1,
        "Layers to offload to the GPU (-1: decide from free memory).",
        "99",
        ge=-1,
        le=INT32_MAX,
    )
    main_gpu: int | None = _param(
        0, "GPU used for small tensors when several are present.", "0", ge=0, le=INT32_MAX
    )
    use_mmap: bool | None = _param(
        None, "Memory-map the weights (unset: decide per platform).", "false"
    )
    num_thread: int | None = _param(
        0, "CPU threads (0: decide from the physical cores).", "8", ge=0, le=GGML_MAX_THREADS
    )
    kv_cache_type: KVCacheType | None = _param(
        "f16",
        "KV cache element type: f16, q8_0 or q4_0 (unset: LADLE_KV_CACHE_TYPE).",
        "q8_0",
    )
    flash_attention: bool | None = _param(
        None, "Flash attention (unset: LADLE_FLASH_ATTENTION, auto by default).", "true"
    )

    def set_values(self) -> dict[str, Any]:
        """The parameters that are set, in table order (Ollama's ``parameters`` object)."""
        return self.model_dump(exclude_none=True)


DEPRECATED: frozenset[str] = frozenset(
    {
        # Ollama's parser.deprecatedParameters: warned about and dropped.
        "penalize_newline",
        "low_vram",
        "f16_kv",
        "logits_all",
        "vocab_only",
        "use_mlock",
        "mirostat",
        "mirostat_tau",
        "mirostat_eta",
        # Removed from Ollama's options since; old Modelfiles still carry them, so ladle
        # drops them with the same warning instead of failing.
        "tfs_z",
        "numa",
        "num_gqa",
    }
)


def kind_of(name: str) -> Kind:
    """The value kind of a known parameter."""
    annotation = Parameters.model_fields[name].annotation
    inner = next(arg for arg in typing.get_args(annotation) if arg is not type(None))
    if typing.get_origin(inner) is list:
        return "list"
    if typing.get_origin(inner) is Literal:
        return "str"
    return typing.cast(Kind, inner.__name__)


def runtime_default(name: str) -> object:
    """The value the runtime uses when the parameter is not set."""
    extra = Parameters.model_fields[name].json_schema_extra
    assert isinstance(extra, dict)
    return extra["runtime_default"]


NAMES: tuple[str, ...] = tuple(Parameters.model_fields)

# Go's strconv syntax: ParseInt base 10; ParseFloat decimal forms and inf/nan; ParseBool.
_GO_INT = re.compile(r"[+-]?[0-9]+")
_GO_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)", re.IGNORECASE
)
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_INT64 = 2**63
_FLOAT32_MAX = 3.4028234663852886e38  # Ollama reads floats with ParseFloat(text, 32)


def read_value(name: str, text: str) -> object:
    """Read the text of a known parameter as its kind; ``ValueError`` says why not."""
    kind = kind_of(name)
    if kind == "list":
        return [text]
    if kind == "str":
        return text
    if kind == "bool":
        if text in _GO_TRUE or text in _GO_FALSE:
            return text in _GO_TRUE
        raise ValueError(f"invalid bool value [{text}]: {name} takes true or false")
    if kind == "int":
        if _GO_INT.fullmatch(text) and -_INT64 <= int(text) < _INT64:
            return int(text)
        raise ValueError(f"invalid int value [{text}]: {name} takes a whole number")
    if _GO_FLOAT.fullmatch(text):
        value = float(text)
        if abs(value) <= _FLOAT32_MAX or value != value or value in (float("inf"), float("-inf")):
            return value
        raise ValueError(f"invalid float value [{text}]: out of range for {name}")
    raise ValueError(f"invalid float value [{text}]: {name} takes a number such as 0.7")
