"""A tiny Hugging Face Llama checkpoint with random weights, for the bad-input tests.

Its ``tokenizer.json`` is a stand-in (a byte-level BPE of a few tokens): the checks these
tests exercise all fail before the tokenizer is read, except the one about the tokenizer.
:func:`write_convertible_checkpoint` writes one that converts: SmolLM2's tokenizer
(from the bundled GGUF) over tiny random weights, split across the shards named.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tests.builder.convert.hf_export import write_safetensors, write_tokenizer

CONFIG: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 128,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "vocab_size": 8,
    "tie_word_embeddings": True,
}


def tensor_shapes(config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """transformers' names and shapes of a Llama checkpoint with ``config``."""
    embd, ff = config["hidden_size"], config["intermediate_size"]
    kv = embd // config["num_attention_heads"] * config["num_key_value_heads"]
    shapes: dict[str, tuple[int, ...]] = {
        "model.embed_tokens.weight": (config["vocab_size"], embd),
        "model.norm.weight": (embd,),
    }
    for i in range(config["num_hidden_layers"]):
        layer = f"model.layers.{i}"
        shapes |= {
            f"{layer}.input_layernorm.weight": (embd,),
            f"{layer}.self_attn.q_proj.weight": (embd, embd),
            f"{layer}.self_attn.k_proj.weight": (kv, embd),
            f"{layer}.self_attn.v_proj.weight": (kv, embd),
            f"{layer}.self_attn.o_proj.weight": (embd, embd),
            f"{layer}.post_attention_layernorm.weight": (embd,),
            f"{layer}.mlp.gate_proj.weight": (ff, embd),
            f"{layer}.mlp.up_proj.weight": (ff, embd),
            f"{layer}.mlp.down_proj.weight": (embd, ff),
        }
    return shapes


def write_tiny_checkpoint(
    folder: Path, config: dict[str, Any] | None = None, shapes: dict[str, Any] | None = None
) -> Path:
    """A tiny checkpoint in ``folder`` (``shapes`` overrides some tensors' shapes)."""
    config = {**CONFIG, **(config or {})}
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    wanted = tensor_shapes(config) | (shapes or {})
    tensors = [
        (name, np.asarray(rng.normal(size=shape), dtype=np.float32))
        for name, shape in wanted.items()
    ]
    write_safetensors(folder / "model.safetensors", tensors)
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    vocab = {token: i for i, token in enumerate(["a", "b", "c", "ab", "bc", "abc", "Ġ", "d"])}
    tokenizer = {
        "model": {"type": "BPE", "vocab": vocab, "merges": ["a b", "b c", "ab c"]},
        "pre_tokenizer": {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": True,
            "use_regex": True,
        },
        "decoder": {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": True,
            "use_regex": True,
        },
        "added_tokens": [],
    }
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer), encoding="utf-8")
    return folder


SMOLLM2_VOCAB = 49152


def write_convertible_checkpoint(
    folder: Path, tokenizer_source: Path, shards: tuple[str, ...] = ("model.safetensors",)
) -> Path:
    """A tiny random Llama with SmolLM2's tokenizer (read from the GGUF
    ``tokenizer_source``), its tensors dealt out over the files named ``shards``."""
    config = {**CONFIG, "vocab_size": SMOLLM2_VOCAB}
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    tensors = [
        (name, np.asarray(rng.normal(size=shape), dtype=np.float32))
        for name, shape in tensor_shapes(config).items()
    ]
    for index, shard in enumerate(shards):
        write_safetensors(folder / shard, tensors[index :: len(shards)])
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    write_tokenizer(tokenizer_source, folder)
    return folder
