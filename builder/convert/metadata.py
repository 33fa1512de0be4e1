"""The ``<arch>.*`` keys of a converted GGUF: the hyperparameters llama.cpp reads for each
architecture, written as its converter writes them.

Every architecture gets the common keys (context, widths, layers, heads, norm epsilon,
RoPE base, head size where the config gives one, RoPE scaling: :mod:`.rope`); then Llama
its vocabulary size and rotary width; Gemma 2 its soft-capping and sliding window;
Gemma 3 its sliding window, the RoPE base of its local layers and its final
soft-capping; Phi-3 its rotary width, original context and sliding window.

Which layers slide (Gemma) is written per layer, from the config's ``layer_types`` or
its ``sliding_window_pattern`` (every n-th layer global), so llama.cpp's default pattern
is never assumed. Where llama.cpp fixes what a config could set otherwise, a config
that sets it otherwise is refused rather than converted into a model that computes
something else: Gemma's attention scale (llama.cpp takes ``1/sqrt(head_dim)``, or
``1/sqrt(hidden_size/heads)`` for the 27B models, known by their layer count, where
transformers takes ``query_pre_attn_scalar``), attention soft-capping on Gemma 3
(llama.cpp has none there) or none on Gemma 2 (llama.cpp always caps), and Qwen's
``use_sliding_window`` (llama.cpp's Qwen attends to everything).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gguf

from builder.convert.architectures import Architecture, Hyperparameters
from builder.convert.rope import write_rope_scaling
from ladle.errors import BuildInputError

GEMMA_27B_LAYERS = {gguf.MODEL_ARCH.GEMMA2: 46, gguf.MODEL_ARCH.GEMMA3: 62}
"""llama.cpp knows Gemma's 27B models by their layer count (their attention scale differs)."""

GEMMA3_ROPE_THETA = 1_000_000.0
"""Gemma 3's RoPE base when the config leaves it out (transformers' default)."""


def write_hyperparameters(
    writer: gguf.GGUFWriter,
    arch: Architecture,
    hp: Hyperparameters,
    config: dict[str, Any],
    path: Path,
) -> None:
    """The ``<arch>.*`` keys llama.cpp reads for ``arch``."""
    writer.add_context_length(hp.context_length)
    writer.add_embedding_length(hp.hidden_size)
    writer.add_block_count(hp.layers)
    writer.add_feed_forward_length(hp.intermediate_size)
    writer.add_head_count(hp.heads)
    writer.add_head_count_kv(hp.kv_heads)
    writer.add_layer_norm_rms_eps(hp.rms_norm_eps)
    if hp.rope_theta is not None:
        writer.add_rope_freq_base(hp.rope_theta)
    if hp.explicit_head_dim:
        writer.add_key_length(hp.head_dim)
        writer.add_value_length(hp.head_dim)
    specific = _SPECIFIC.get(arch.arch)
    if specific is not None:
        specific(writer, hp, config, path)
    write_rope_scaling(writer, config.get("rope_scaling"), path)


def _llama(
    writer: gguf.GGUFWriter, hp: Hyperparameters, config: dict[str, Any], path: Path
) -> None:
    writer.add_vocab_size(hp.vocab_size)
    writer.add_rope_dimension_count(hp.head_dim)


def _gemma2(
    writer: gguf.GGUFWriter, hp: Hyperparameters, config: dict[str, Any], path: Path
) -> None:
    _check_gemma(gguf.MODEL_ARCH.GEMMA2, hp, config, path)
    attention = _number(config, "attn_logit_softcapping", 50.0, path)
    if attention is None:
        raise BuildInputError(f"{path}: attn_logit_softcapping is null; llama.cpp's gemma2 caps")
    writer.add_attn_logit_softcapping(attention)
    final = _number(config, "final_logit_softcapping", 30.0, path)
    if final is None:
        raise BuildInputError(f"{path}: final_logit_softcapping is null; llama.cpp's gemma2 caps")
    writer.add_final_logit_softcapping(final)
    writer.add_sliding_window(int(_number(config, "sliding_window", 4096, path) or 0))
    writer.add_sliding_window_pattern(_sliding_layers(config, hp, 2, path))


def _gemma3(
    writer: gguf.GGUFWriter, hp: Hyperparameters, config: dict[str, Any], path: Path
) -> None:
    _check_gemma(gguf.MODEL_ARCH.GEMMA3, hp, config, path)
    if config.get("attn_logit_softcapping") is not None:
        raise BuildInputError(
            f"{path}: attn_logit_softcapping is set; llama.cpp's gemma3 has no attention capping"
        )
    final = _number(config, "final_logit_softcapping", None, path)
    if final:
        writer.add_final_logit_softcapping(final)
    if hp.rope_theta is None:
        writer.add_rope_freq_base(GEMMA3_ROPE_THETA)
    local = _number(config, "rope_local_base_freq", None, path)
    if local is not None:
        writer.add_rope_freq_base_swa(local)
    sliding = _sliding_layers(config, hp, 6, path)
    if any(sliding):
        writer.add_sliding_window(int(_number(config, "sliding_window", 4096, path) or 0))
        writer.add_sliding_window_pattern(sliding)


def _phi3(writer: gguf.GGUFWriter, hp: Hyperparameters, config: dict[str, Any], path: Path) -> None:
    factor = _number(config, "partial_rotary_factor", 1.0, path) or 1.0
    writer.add_rope_dimension_count(int(factor * hp.hidden_size) // hp.heads)
    original = config.get("original_max_position_embeddings")
    if isinstance(original, int) and config.get("rope_scaling") is None:
        writer.add_rope_scaling_orig_ctx_len(original)
    writer.add_sliding_window(int(_number(config, "sliding_window", None, path) or 0))


def _qwen(writer: gguf.GGUFWriter, hp: Hyperparameters, config: dict[str, Any], path: Path) -> None:
    if config.get("use_sliding_window"):
        raise BuildInputError(
            f"{path}: use_sliding_window is true; llama.cpp's Qwen attends to the whole context"
        )


_SPECIFIC: dict[gguf.MODEL_ARCH, Callable[..., None]] = {
    gguf.MODEL_ARCH.LLAMA: _llama,
    gguf.MODEL_ARCH.QWEN2: _qwen,
    gguf.MODEL_ARCH.QWEN3: _qwen,
    gguf.MODEL_ARCH.GEMMA2: _gemma2,
    gguf.MODEL_ARCH.GEMMA3: _gemma3,
    gguf.MODEL_ARCH.PHI3: _phi3,
}


def _check_gemma(
    arch: gguf.MODEL_ARCH, hp: Hyperparameters, config: dict[str, Any], path: Path
) -> None:
    """The attention scale llama.cpp will use is the config's."""
    used = hp.hidden_size // hp.heads if hp.layers == GEMMA_27B_LAYERS[arch] else hp.head_dim
    given = config.get("query_pre_attn_scalar", used)
    if given != used:
        raise BuildInputError(
            f"{path}: query_pre_attn_scalar is {given!r}, but llama.cpp scales this model's "
            f"attention by 1/sqrt({used})"
        )


def _sliding_layers(
    config: dict[str, Any], hp: Hyperparameters, pattern: int, path: Path
) -> list[bool]:
    """Whether each layer uses sliding-window attention."""
    types = config.get("layer_types")
    if types is not None:
        kinds = ("sliding_attention", "full_attention")
        if not isinstance(types, list) or len(types) != hp.layers or not set(types) <= set(kinds):
            raise BuildInputError(
                f"{path}: 'layer_types' must list {hp.layers} of {', '.join(kinds)}"
            )
        return [kind == "sliding_attention" for kind in types]
    every = config.get("sliding_window_pattern", pattern)
    if not isinstance(every, int) or isinstance(every, bool) or every <= 0:
        raise BuildInputError(f"{path}: 'sliding_window_pattern' must be a positive integer")
    return [(i + 1) % every != 0 for i in range(hp.layers)]


def _number(config: dict[str, Any], key: str, default: float | None, path: Path) -> float | None:
    value = config.get(key, default)
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise BuildInputError(f"{path}: {key!r} must be a non-negative number, not {value!r}")
    return float(value)
