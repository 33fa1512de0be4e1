"""From an image and a request's options to the :class:`LoadSpec` a runner is started with.

The load-time parameters are the ones llama.cpp fixes when it creates a context; a
request that asks for other values than the loaded runner has means a reload (Ollama's
``needsReload``). Values come from, last one winning: LoadSpec's defaults, the image's
PARAMETER lines, the request's ``options``. They are range-checked with the Modelfile's
own parameter table, so a request cannot ask for what a Modelfile could not say.

A ``num_ctx`` from 0 to 3 becomes 4, :data:`MIN_NUM_CTX`, as Ollama's scheduler raises
it (``server/sched.go``, ``getRunner``): a request may send 0, and an image pulled from
Ollama may carry it. A negative one is refused. (A Modelfile's ``num_ctx 0`` stays an
error at ``check``, see docs/modelfile.md.)

``num_gpu`` unset (or -1, Ollama's "decide from free memory") becomes ``n_gpu_layers``
-1, every layer: the hardware planner that wraps the runner factory lowers it to what
fits, and llama.cpp builds without a GPU ignore it. ``num_thread`` 0 becomes ``None``,
"decide from the physical cores".

``kv_cache_type`` and ``flash_attention`` unset take the server's ``LADLE_KV_CACHE_TYPE``
and ``LADLE_FLASH_ATTENTION`` (:mod:`runtime.kv_cache` refuses a quantized cache with
flash attention off). ``num_ctx`` unset takes ``LADLE_CONTEXT_LENGTH``, else the spec asks
the placement to choose it from free memory (:mod:`runtime.context_size`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from builder.store.image import Image
from ladle.errors import InvalidOptionError
from ladle.settings import (
    DEFAULT_FLASH_ATTENTION,
    DEFAULT_KV_CACHE_TYPE,
    FlashAttention,
    KVCacheType,
)
from modelfile.parameters import Parameters, kind_of
from runtime.kv_cache import check_flash_attention, flash_attention_mode
from runtime.protocol import AdapterSpec, LoadSpec, PromptCacheSpec

LOAD_OPTIONS: dict[str, str] = {
    "num_ctx": "n_ctx",
    "num_batch": "n_batch",
    "num_gpu": "n_gpu_layers",
    "main_gpu": "main_gpu",
    "use_mmap": "use_mmap",
    "num_thread": "n_threads",
    "kv_cache_type": "kv_cache_type",
    "flash_attention": "flash_attention",
}
"""Ollama option -> LoadSpec field, for every option fixed at load time."""

ALL_GPU_LAYERS = -1
MIN_NUM_CTX = 4
"""Ollama's smallest context: a smaller ``num_ctx`` (0 included) is raised to it."""


def load_spec(
    image: Image,
    options: Mapping[str, Any] | None = None,
    *,
    num_parallel: int,
    embedding: bool = False,
    runner_timeout: float | None = None,
    kv_cache_type: KVCacheType = DEFAULT_KV_CACHE_TYPE,
    flash_attention: FlashAttention = DEFAULT_FLASH_ATTENTION,
    context_length: int | None = None,
) -> LoadSpec:
    """What to load for ``image``, with ``options`` (a request's) over its parameters;
    ``runner_timeout``, ``kv_cache_type``, ``flash_attention`` and ``context_length`` are
    the server's ``LADLE_RUNNER_TIMEOUT`` (None: its default), ``LADLE_KV_CACHE_TYPE``,
    ``LADLE_FLASH_ATTENTION`` and ``LADLE_CONTEXT_LENGTH`` (None: from free memory)."""
    chosen = _load_options(image.params) | _load_options(options or {}, request=True)
    try:
        checked = Parameters.model_validate(chosen)
    except ValidationError as exc:
        problem = exc.errors()[0]
        option = str(problem["loc"][0]) if problem["loc"] else "options"
        raise InvalidOptionError(option, chosen.get(option), problem["msg"]) from None
    fields: dict[str, Any] = {
        LOAD_OPTIONS[key]: value for key, value in checked.set_values().items()
    }
    fields.setdefault("n_gpu_layers", ALL_GPU_LAYERS)
    fields.setdefault("kv_cache_type", kv_cache_type)
    fields["flash_attention"] = flash_attention_mode(fields.get("flash_attention"), flash_attention)
    check_flash_attention(fields["kv_cache_type"], fields["flash_attention"])
    fields |= _context(fields.get("n_ctx"), context_length, embedding)
    if fields.get("n_threads") == 0:
        fields["n_threads"] = None
    adapters = tuple(AdapterSpec(path=path) for path in image.adapter_paths)
    return LoadSpec(
        model_path=image.model_path,
        adapters=adapters,
        projector_path=image.projector,
        draft_path=None if embedding else image.draft,  # speculative decoding's
        num_parallel=num_parallel,
        embedding=embedding,
        runner_timeout=runner_timeout,
        **fields,
    )


def _load_options(values: Mapping[str, Any], *, request: bool = False) -> dict[str, Any]:
    """The load-time options among ``values``; a request's ``null`` means "not set"."""
    chosen = {key: value for key, value in values.items() if key in LOAD_OPTIONS}
    if request:
        chosen = {key: value for key, value in chosen.items() if value is not None}
    for key, value in chosen.items():
        # pydantic's lax mode reads True as 1; an option that is a number is never a bool.
        if isinstance(value, bool) and kind_of(key) in ("int", "float"):
            raise InvalidOptionError(key, value, "expected a number")
    if _below_min_context(chosen.get("num_ctx")):
        chosen["num_ctx"] = MIN_NUM_CTX
    return chosen


def _context(asked: int | None, context_length: int | None, embedding: bool) -> dict[str, Any]:
    """The spec's context fields: a ``num_ctx`` asked for, else ``LADLE_CONTEXT_LENGTH``,
    else chosen at placement from free memory (an embedding load keeps the default: its
    batch is as long as its context)."""
    if asked is not None:
        return {"n_ctx": asked}
    if context_length is not None:
        return {"n_ctx": context_length}
    return {"context_from_memory": not embedding}


def _below_min_context(value: object) -> bool:
    """Whether ``value`` is a whole number from 0 to :data:`MIN_NUM_CTX` - 1."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    return 0 <= value < MIN_NUM_CTX and float(value).is_integer()


def prompt_cache_spec(model_path: Path, folder: Path, max_bytes: int) -> PromptCacheSpec | None:
    """Where the runner of the weights at ``model_path`` (a blob) saves its prompt caches
    (``LADLE_CACHE_DIR``), keyed by the blob's name; None when ``LADLE_CACHE_MAX`` is off."""
    if max_bytes <= 0:
        return None
    return PromptCacheSpec(folder=folder, max_bytes=max_bytes, model_digest=model_path.name)
