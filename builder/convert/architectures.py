"""The architectures ladle converts, and how each maps onto llama.cpp's GGUF.

A config's ``architectures[0]`` (``LlamaForCausalLM``) picks an :class:`Architecture`:
llama.cpp's architecture name, its hyperparameters as ``<arch>.*`` keys, and each
Hugging Face tensor name as the GGUF name llama.cpp looks for (gguf-py's tensor map).
The shape every tensor must have follows from the config, so a checkpoint whose tensors
do not fit its config is refused before anything is written.

Llama's attention weights are stored by transformers with the two halves of each rotary
pair far apart (``rotate_half``); llama.cpp's RoPE takes them side by side, so the Q and K
rows are permuted on the way, as llama.cpp's converter does (:func:`permute_rotary`).
Qwen 2 and 3, Gemma 2 and 3 and Phi-3 keep transformers' layout (llama.cpp uses
NeoX-style RoPE for them).

Gemma's RMS norms multiply by ``1 + weight`` where llama.cpp multiplies by the weight, so
every norm weight gains 1 on the way (as llama.cpp's converter does); its embedding
scale (``sqrt(hidden_size)``) is applied by llama.cpp itself. Gemma 2 always ties its
output to the embeddings (an ``lm_head.weight`` is skipped, as llama.cpp's converter
skips it). Phi-3's fused ``qkv_proj`` and ``gate_up_proj`` stay fused: llama.cpp's
``phi3`` reads ``attn_qkv`` and an ``ffn_up`` twice as tall (gate first, as Phi-3 splits it).
The ``<arch>.*`` keys are written by :mod:`.metadata`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import numpy.typing as npt

from ladle.errors import BuildInputError

SKIPPED_SUFFIXES = (".rotary_emb.inv_freq",)
"""Tensors transformers saves that the model does not need (computed from the config)."""


@dataclass(frozen=True)
class Architecture:
    """How one Hugging Face architecture becomes a GGUF llama.cpp loads."""

    hf_names: tuple[str, ...]
    arch: gguf.MODEL_ARCH
    permute_qk: bool = False
    qkv_bias: bool = False
    qk_norm: bool = False
    norm_plus_one: bool = False
    """Gemma: norm weights are stored as ``weight - 1``."""
    sandwich_norms: bool = False
    """Gemma 2 and 3: a norm after attention and after the MLP too."""
    fused: bool = False
    """Phi-3: one QKV matrix and one gate-and-up matrix."""
    tied_default: bool = False
    """``tie_word_embeddings`` when the config does not say (transformers' default)."""
    skipped: tuple[str, ...] = ()
    """Tensor names llama.cpp's converter drops for this architecture."""

    @property
    def name(self) -> str:
        """llama.cpp's name: ``general.architecture``."""
        return gguf.MODEL_ARCH_NAMES[self.arch]


ARCHITECTURES = (
    Architecture(("LlamaForCausalLM", "MistralForCausalLM"), gguf.MODEL_ARCH.LLAMA, True),
    Architecture(("Qwen2ForCausalLM",), gguf.MODEL_ARCH.QWEN2, qkv_bias=True),
    Architecture(("Qwen3ForCausalLM",), gguf.MODEL_ARCH.QWEN3, qk_norm=True),
    Architecture(
        ("Gemma2ForCausalLM",),
        gguf.MODEL_ARCH.GEMMA2,
        norm_plus_one=True,
        sandwich_norms=True,
        tied_default=True,
        skipped=("lm_head.weight",),
    ),
    Architecture(
        ("Gemma3ForCausalLM",),
        gguf.MODEL_ARCH.GEMMA3,
        qk_norm=True,
        norm_plus_one=True,
        sandwich_norms=True,
        tied_default=True,
    ),
    Architecture(("Phi3ForCausalLM",), gguf.MODEL_ARCH.PHI3, fused=True),
)


def supported_names() -> list[str]:
    """Every Hugging Face architecture name ladle converts."""
    return [name for arch in ARCHITECTURES for name in arch.hf_names]


def architecture_of(config: dict[str, Any], path: Path) -> Architecture:
    """The architecture ``config`` (read from ``path``) names; refused when unsupported."""
    names = config.get("architectures")
    if not isinstance(names, list) or not names or not isinstance(names[0], str):
        raise BuildInputError(f"{path}: 'architectures' is missing, so the model is unknown")
    for arch in ARCHITECTURES:
        if names[0] in arch.hf_names:
            return arch
    raise BuildInputError(
        f"{path}: architecture {names[0]!r} cannot be converted; ladle converts "
        f"{', '.join(supported_names())}"
    )


@dataclass(frozen=True)
class Hyperparameters:
    """The config values the tensors' shapes and the GGUF's metadata need."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    context_length: int
    rms_norm_eps: float
    rope_theta: float | None
    tied_embeddings: bool
    explicit_head_dim: bool

    @classmethod
    def of(cls, config: dict[str, Any], path: Path, arch: Architecture) -> Hyperparameters:
        def number(key: str, default: int | None = None) -> int:
            value = config.get(key, default)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise BuildInputError(f"{path}: {key!r} must be a positive integer, not {value!r}")
            return value

        heads = number("num_attention_heads")
        head_dim = config.get("head_dim")
        eps = config.get("rms_norm_eps", 1e-6)
        theta = config.get("rope_theta")
        numbers = (eps, 0.0 if theta is None else theta)
        if not all(isinstance(value, (int, float)) for value in numbers):
            raise BuildInputError(f"{path}: 'rms_norm_eps' and 'rope_theta' must be numbers")
        tied = bool(config.get("tie_word_embeddings", arch.tied_default))
        if not tied and "lm_head.weight" in arch.skipped:
            raise BuildInputError(
                f"{path}: tie_word_embeddings is false, but llama.cpp's {arch.name} always "
                "ties the output to the embeddings"
            )
        return cls(
            vocab_size=number("vocab_size"),
            hidden_size=number("hidden_size"),
            intermediate_size=number("intermediate_size"),
            layers=number("num_hidden_layers"),
            heads=heads,
            kv_heads=number("num_key_value_heads", heads),
            head_dim=number("head_dim") if head_dim is not None else number("hidden_size") // heads,
            context_length=number("max_position_embeddings", 2048),
            rms_norm_eps=float(eps),
            rope_theta=float(theta) if theta is not None else None,
            tied_embeddings=tied,
            explicit_head_dim=head_dim is not None,
        )


def expected_shapes(arch: Architecture, hp: Hyperparameters) -> dict[str, tuple[int, ...]]:
    """Every GGUF tensor the model needs, with its shape in numpy (row-major) order."""
    q, kv, embd = hp.heads * hp.head_dim, hp.kv_heads * hp.head_dim, hp.hidden_size
    ff = hp.intermediate_size
    shapes: dict[str, tuple[int, ...]] = {
        "token_embd.weight": (hp.vocab_size, embd),
        "output_norm.weight": (embd,),
    }
    if not hp.tied_embeddings:
        shapes["output.weight"] = (hp.vocab_size, embd)
    block = {
        "attn_norm.weight": (embd,),
        "attn_output.weight": (embd, q),
        "ffn_norm.weight": (embd,),
        "ffn_down.weight": (embd, ff),
    }
    if arch.fused:
        block |= {"attn_qkv.weight": (q + 2 * kv, embd), "ffn_up.weight": (2 * ff, embd)}
    else:
        block |= {"attn_q.weight": (q, embd), "attn_k.weight": (kv, embd)}
        block |= {"attn_v.weight": (kv, embd), "ffn_gate.weight": (ff, embd)}
        block |= {"ffn_up.weight": (ff, embd)}
    if arch.sandwich_norms:
        block |= {"post_attention_norm.weight": (embd,), "post_ffw_norm.weight": (embd,)}
    if arch.qkv_bias:
        block |= {"attn_q.bias": (q,), "attn_k.bias": (kv,), "attn_v.bias": (kv,)}
    if arch.qk_norm:
        block |= {"attn_q_norm.weight": (hp.head_dim,), "attn_k_norm.weight": (hp.head_dim,)}
    for i in range(hp.layers):
        shapes |= {f"blk.{i}.{name}": shape for name, shape in block.items()}
    return shapes


def optional_tensors(hp: Hyperparameters) -> dict[str, tuple[int, ...]]:
    """Tensors a checkpoint may have beyond :func:`expected_shapes`: a separate output
    matrix beside tied embeddings (llama.cpp uses it when present)."""
    return {"output.weight": (hp.vocab_size, hp.hidden_size)} if hp.tied_embeddings else {}


def is_skipped(arch: Architecture, name: str) -> bool:
    """Whether the Hugging Face tensor ``name`` is left out of the GGUF."""
    return name.endswith(SKIPPED_SUFFIXES) or name in arch.skipped


def gguf_name(arch: Architecture, hp: Hyperparameters, name: str) -> str | None:
    """The GGUF name of the Hugging Face tensor ``name``; None for one to skip."""
    if is_skipped(arch, name):
        return None
    return name_map(arch.arch, hp.layers).get_name(name, try_suffixes=(".weight", ".bias"))


@functools.cache
def name_map(arch: gguf.MODEL_ARCH, layers: int) -> gguf.TensorNameMap:
    """gguf-py's map of Hugging Face names to GGUF names (built once: it takes ~20 ms)."""
    return gguf.get_tensor_name_map(arch, layers)


def transform(
    arch: Architecture, hp: Hyperparameters, name: str, data: npt.NDArray[Any]
) -> npt.NDArray[Any]:
    """The tensor ``data`` (GGUF name ``name``) as llama.cpp wants its values laid out."""
    if arch.permute_qk and name.endswith(("attn_q.weight", "attn_q.bias")):
        return permute_rotary(data, hp.heads)
    if arch.permute_qk and name.endswith(("attn_k.weight", "attn_k.bias")):
        return permute_rotary(data, hp.kv_heads)
    if arch.norm_plus_one and name.endswith("norm.weight"):
        return data + np.float32(1)  # Gemma's norms scale by (1 + weight)
    return data


def permute_rotary(data: npt.NDArray[Any], heads: int) -> npt.NDArray[Any]:
    """Rows of each head reordered from (first halves, second halves) to interleaved
    pairs: row ``h*d + j`` for ``j < d/2`` goes to ``h*d + 2j``, row ``h*d + d/2 + j``
    to ``h*d + 2j + 1``."""
    rows = data.shape[0]
    split = data.reshape(heads, 2, rows // heads // 2, *data.shape[1:])
    return np.ascontiguousarray(split.swapaxes(1, 2).reshape(data.shape))
