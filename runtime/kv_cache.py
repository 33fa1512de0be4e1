"""The KV cache type and flash attention a load asks for, checked before anything loads.

A model's cache type comes from, last one winning: ``LADLE_KV_CACHE_TYPE``, the image's
``PARAMETER kv_cache_type``, the request's ``options``; flash attention from
``LADLE_FLASH_ATTENTION`` (``auto``, ``on``, ``off``), then ``flash_attention`` (true or
false) the same way. Both are load-time options: a change reloads the runner.

llama.cpp (the vendored ``llama_init_from_model``) refuses two combinations by returning
no context, which a runner could only report as "could not create a context"; they are
refused here instead, as a 400 naming the option:

- a quantized V cache with flash attention off ("quantized V cache requires flash_attn
  to be enabled"); under ``auto`` llama.cpp turns flash attention on for it, so only an
  explicit ``off`` is refused;
- a quantized cache whose block (32 values for ``q8_0`` and ``q4_0``) does not divide the
  model's head dimension ("K cache type q8_0 with block size 32 does not divide
  n_embd_head_k"), read from the GGUF header (:func:`check_head_dimension`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ladle.errors import InvalidOptionError
from ladle.settings import FlashAttention, KVCacheType

if TYPE_CHECKING:
    from builder.gguf.file import GGUFInfo

BLOCK_SIZES: dict[str, int] = {"f16": 1, "q8_0": 32, "q4_0": 32}
"""Values per block of each cache type (ggml's ``blck_size``)."""
OPTION = "kv_cache_type"


def flash_attention_mode(value: object, default: FlashAttention) -> FlashAttention:
    """A ``flash_attention`` option (true, false, unset) as llama.cpp's three modes."""
    if value is None:
        return default
    return "on" if value else "off"


def check_flash_attention(kv_type: KVCacheType, flash: FlashAttention) -> None:
    """Refuse a quantized cache with flash attention off (llama.cpp has no such context)."""
    if kv_type != "f16" and flash == "off":
        raise InvalidOptionError(
            OPTION,
            kv_type,
            "a quantized KV cache needs flash attention, which is off (flash_attention "
            "false, or LADLE_FLASH_ATTENTION=off); use kv_cache_type f16 or turn it on",
        )


def check_head_dimension(kv_type: KVCacheType, info: GGUFInfo) -> None:
    """Refuse a quantized cache whose blocks do not divide ``info``'s head dimension."""
    block = BLOCK_SIZES[kv_type]
    if block == 1:
        return
    for name, size in head_dimensions(info).items():
        if size % block:
            raise InvalidOptionError(
                OPTION,
                kv_type,
                f"{kv_type} stores blocks of {block} values, which do not divide this "
                f"model's {name} head dimension ({size}); use kv_cache_type f16",
            )


def head_dimensions(info: GGUFInfo) -> dict[str, int]:
    """The key and value head dimensions of ``info``'s model, as llama.cpp reads them
    (``attention.key_length``/``value_length``, else embedding length / heads)."""
    heads = info.head_count or 1
    default = (info.embedding_length or 0) // heads
    dims = {}
    for name in ("key", "value"):
        value = info.metadata.get(f"{info.architecture}.attention.{name}_length")
        usable = isinstance(value, int) and not isinstance(value, bool) and value > 0
        dims[name] = int(value) if usable else default  # type: ignore[arg-type]
    return dims
