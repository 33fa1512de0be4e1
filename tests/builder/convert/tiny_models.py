"""Tiny random Hugging Face checkpoints of each architecture ladle converts, for the
reference tests: ``config.json``, ``model.safetensors`` in transformers' names and
layout, and a SentencePiece ``tokenizer.model`` (:mod:`.sentencepiece_writer`).

Two layers, so that Gemma's first layer slides over a window of 4 and its second
attends to everything; weights small enough that the logits stay in a range where a
transposed matrix or a missing norm shows as a large difference, not as noise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tests.builder.convert.hf_export import write_safetensors
from tests.builder.convert.sentencepiece_writer import PIECES, write_sentencepiece

Tensors = dict[str, npt.NDArray[np.float32]]

_COMMON: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 96,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 256,
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
    "vocab_size": len(PIECES) + 3,  # three ids past the last piece: [PADn]
    "bos_token_id": 1,
    "eos_token_id": 2,
}
_GEMMA: dict[str, Any] = {
    "head_dim": 32,
    "query_pre_attn_scalar": 32,
    "sliding_window": 4,
    "hidden_activation": "gelu_pytorch_tanh",
    "tie_word_embeddings": True,
}

CONFIGS: dict[str, dict[str, Any]] = {
    "llama": {"architectures": ["LlamaForCausalLM"], "tie_word_embeddings": False},
    "qwen2": {"architectures": ["Qwen2ForCausalLM"], "tie_word_embeddings": True},
    "qwen3": {"architectures": ["Qwen3ForCausalLM"], "head_dim": 32, "tie_word_embeddings": True},
    "gemma2": {
        "architectures": ["Gemma2ForCausalLM"],
        **_GEMMA,
        "attn_logit_softcapping": 50.0,
        "final_logit_softcapping": 30.0,
    },
    "gemma3": {
        "architectures": ["Gemma3ForCausalLM"],
        **_GEMMA,
        "num_key_value_heads": 1,
        "rope_theta": 1_000_000.0,
        "rope_local_base_freq": 10000.0,
        "layer_types": ["sliding_attention", "full_attention"],
        "final_logit_softcapping": None,
        "attn_logit_softcapping": None,
    },
    "phi3": {"architectures": ["Phi3ForCausalLM"], "tie_word_embeddings": False},
}
"""What each architecture's config adds to the common one."""


def config_of(kind: str) -> dict[str, Any]:
    """The full config of the tiny ``kind`` model."""
    return {**_COMMON, **CONFIGS[kind]}


def tensor_shapes(kind: str, config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """transformers' tensor names and shapes for ``kind``."""
    embd, ff, heads = (
        config["hidden_size"],
        config["intermediate_size"],
        config["num_attention_heads"],
    )
    head_dim = config.get("head_dim", embd // heads)
    q, kv = heads * head_dim, config["num_key_value_heads"] * head_dim
    shapes: dict[str, tuple[int, ...]] = {
        "model.embed_tokens.weight": (config["vocab_size"], embd),
        "model.norm.weight": (embd,),
    }
    if not config["tie_word_embeddings"]:
        shapes["lm_head.weight"] = (config["vocab_size"], embd)
    for i in range(config["num_hidden_layers"]):
        shapes |= {
            f"model.layers.{i}.{name}": shape
            for name, shape in _layer(kind, embd, ff, q, kv, head_dim).items()
        }
    return shapes


def _layer(
    kind: str, embd: int, ff: int, q: int, kv: int, head_dim: int
) -> dict[str, tuple[int, ...]]:
    layer: dict[str, tuple[int, ...]] = {
        "input_layernorm.weight": (embd,),
        "post_attention_layernorm.weight": (embd,),
        "self_attn.o_proj.weight": (embd, q),
        "mlp.down_proj.weight": (embd, ff),
    }
    if kind == "phi3":
        return layer | {
            "self_attn.qkv_proj.weight": (q + 2 * kv, embd),
            "mlp.gate_up_proj.weight": (2 * ff, embd),
        }
    layer |= {
        "self_attn.q_proj.weight": (q, embd),
        "self_attn.k_proj.weight": (kv, embd),
        "self_attn.v_proj.weight": (kv, embd),
        "mlp.gate_proj.weight": (ff, embd),
        "mlp.up_proj.weight": (ff, embd),
    }
    if kind == "qwen2":
        layer |= {
            "self_attn.q_proj.bias": (q,),
            "self_attn.k_proj.bias": (kv,),
            "self_attn.v_proj.bias": (kv,),
        }
    if kind in ("qwen3", "gemma3"):
        layer |= {"self_attn.q_norm.weight": (head_dim,), "self_attn.k_norm.weight": (head_dim,)}
    if kind.startswith("gemma"):
        layer |= {
            "pre_feedforward_layernorm.weight": (embd,),
            "post_feedforward_layernorm.weight": (embd,),
        }
    return layer


def random_tensors(kind: str, config: dict[str, Any], seed: int = 0) -> Tensors:
    """Random weights: matrices of scale 1/sqrt(fan-in), norms near their identity
    (1 for most, 0 for Gemma's, stored as ``weight - 1``)."""
    rng = np.random.default_rng(seed)
    tensors: Tensors = {}
    for name, shape in tensor_shapes(kind, config).items():
        if name.endswith("norm.weight"):
            centre = 0.0 if kind.startswith("gemma") else 1.0
            data = centre + 0.1 * rng.normal(size=shape)
        elif name.endswith(".bias"):
            data = 0.1 * rng.normal(size=shape)
        else:
            data = rng.normal(size=shape) / np.sqrt(shape[-1])
        tensors[name] = np.asarray(data, dtype=np.float32)
    return tensors


def write_tiny_model(folder: Path, kind: str, seed: int = 0) -> tuple[dict[str, Any], Tensors]:
    """The tiny ``kind`` checkpoint in ``folder``; its config and weights."""
    config = config_of(kind)
    tensors = random_tensors(kind, config, seed)
    folder.mkdir(parents=True, exist_ok=True)
    write_safetensors(folder / "model.safetensors", tensors.items())
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    write_sentencepiece(folder / "tokenizer.model", add_dummy_prefix=not kind.startswith("gemma"))
    if kind == "phi3":  # llama.cpp looks <|endoftext|> up in any model named phi3
        end = {"content": "<|endoftext|>", "special": True}
        added = {"added_tokens_decoder": {str(config["vocab_size"] - 1): end}}
        (folder / "tokenizer_config.json").write_text(json.dumps(added), encoding="utf-8")
    return config, tensors
