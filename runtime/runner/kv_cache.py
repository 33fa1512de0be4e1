"""The KV cache's element type and flash attention, as llama.cpp's context takes them.

A :class:`~runtime.protocol.LoadSpec` names the cache type (``f16``, ``q8_0``, ``q4_0``)
and flash attention (``auto``, ``on``, ``off``); :func:`context_cache_params` writes them
into ``llama_context_params`` (``type_k``, ``type_v``, ``flash_attn_type``). Both caches
take the same type, as Ollama's ``OLLAMA_KV_CACHE_TYPE`` sets them.

llama.cpp decides ``auto`` itself, and says what it chose only in its log (the vendored
``llama-context.cpp``): ``Flash Attention enabled`` when the backend runs it,
``Flash Attention not supported, set to disabled`` when a layer's device lacks it, and
with a quantized V cache it turns ``auto`` into ``on`` (``enabling flash_attn since it is
required for quantized V cache``). :class:`CacheLog` reads those lines, and the KV
cache's size, so that ``ps`` can say what runs and what it holds. The combinations
llama.cpp refuses are refused before a load by :mod:`runtime.kv_cache`, with the option
named.
"""

from __future__ import annotations

import re
from typing import Any

import llama_cpp as llama

from runtime.protocol import LoadSpec

GGML_TYPES: dict[str, int] = {
    "f16": llama.GGML_TYPE_F16,
    "q8_0": llama.GGML_TYPE_Q8_0,
    "q4_0": llama.GGML_TYPE_Q4_0,
}
"""ladle's cache type name -> ggml's ``ggml_type``."""
FLASH_ATTN_TYPES: dict[str, int] = {
    "auto": llama.LLAMA_FLASH_ATTN_TYPE_AUTO,
    "on": llama.LLAMA_FLASH_ATTN_TYPE_ENABLED,
    "off": llama.LLAMA_FLASH_ATTN_TYPE_DISABLED,
}
_ENABLED_SIGNS = ("Flash Attention enabled", "enabling flash_attn since it is required")
_DISABLED_SIGNS = ("Flash Attention not supported",)
_KV_SIZE = re.compile(r"llama_kv_cache: size =\s*([0-9.]+) MiB")


def context_cache_params(params: Any, spec: LoadSpec) -> None:
    """Set ``params`` (a ``llama_context_params``) to ``spec``'s cache type and flash
    attention."""
    params.type_k = params.type_v = GGML_TYPES[spec.kv_cache_type]
    params.flash_attn_type = FLASH_ATTN_TYPES[spec.flash_attention]


class CacheLog:
    """What llama.cpp's log says about the context it made: whether flash attention runs
    under ``auto``, and the KV cache's size (``llama_kv_cache: size = 45.00 MiB (…)``, one
    line per cache: a model with sliding-window layers has two)."""

    def __init__(self) -> None:
        self.flash_attention: bool | None = None
        self.kv_bytes = 0

    def read(self, line: str) -> None:
        """Take note of one log line."""
        if any(sign in line for sign in _ENABLED_SIGNS):
            self.flash_attention = True
        elif any(sign in line for sign in _DISABLED_SIGNS):
            self.flash_attention = False
        elif match := _KV_SIZE.search(line):
            self.kv_bytes += round(float(match[1]) * 2**20)

    def resolved(self, spec: LoadSpec) -> bool | None:
        """Whether flash attention runs for a context made from ``spec`` (None: the log
        did not say)."""
        if spec.flash_attention != "auto":
            return spec.flash_attention == "on"
        return self.flash_attention
