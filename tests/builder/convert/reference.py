"""A numpy forward pass of each architecture ladle converts, on transformers' weights.

Written from transformers' modelling code (``modeling_llama``, ``_qwen2``, ``_qwen3``,
``_gemma2``, ``_gemma3``, ``_phi3``), not from llama.cpp's graphs, so that a converted
GGUF whose logits match these was converted right: RoPE in transformers' half-split
layout (``rotate_half``), grouped-query attention with a causal (and, for Gemma's
sliding layers, windowed) mask, Qwen 2's biases, Qwen 3's and Gemma 3's per-head norms,
Gemma's ``1 + weight`` norms, embedding scale, sandwich norms, GELU and soft-capping,
Phi-3's fused QKV and gate-up matrices. Everything in float64.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


def forward(kind: str, config: dict[str, Any], weights: dict[str, Any], ids: list[int]) -> Array:
    """The logits (tokens by vocabulary) of ``ids`` at positions 0, 1, …"""
    w = {name: np.asarray(value, dtype=np.float64) for name, value in weights.items()}
    gemma = kind.startswith("gemma")
    x = w["model.embed_tokens.weight"][ids]
    if gemma:
        x = x * math.sqrt(config["hidden_size"])
    for layer in range(config["num_hidden_layers"]):
        x = _block(kind, config, w, f"model.layers.{layer}.", layer, x)
    x = _norm(x, w["model.norm.weight"], config, gemma)
    logits = x @ w.get("lm_head.weight", w["model.embed_tokens.weight"]).T
    cap = config.get("final_logit_softcapping")
    return np.tanh(logits / cap) * cap if cap else logits


def _block(
    kind: str, config: dict[str, Any], w: dict[str, Array], p: str, layer: int, x: Array
) -> Array:
    gemma = kind.startswith("gemma")
    h = _attention(
        kind, config, w, p, layer, _norm(x, w[p + "input_layernorm.weight"], config, gemma)
    )
    if gemma:
        h = _norm(h, w[p + "post_attention_layernorm.weight"], config, True)
        x = x + h
        h = _mlp(
            kind, config, w, p, _norm(x, w[p + "pre_feedforward_layernorm.weight"], config, True)
        )
        return x + _norm(h, w[p + "post_feedforward_layernorm.weight"], config, True)
    x = x + h
    return x + _mlp(
        kind, config, w, p, _norm(x, w[p + "post_attention_layernorm.weight"], config, False)
    )


def _norm(x: Array, weight: Array, config: dict[str, Any], plus_one: bool) -> Array:
    scaled: Array = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + config["rms_norm_eps"])
    return scaled * (1.0 + weight if plus_one else weight)


def _qkv(
    kind: str, config: dict[str, Any], w: dict[str, Array], p: str, x: Array
) -> tuple[Array, Array, Array]:
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    d = config.get("head_dim", config["hidden_size"] // heads)
    if kind == "phi3":
        fused = x @ w[p + "self_attn.qkv_proj.weight"].T
        q, k, v = np.split(fused, [heads * d, (heads + kv_heads) * d], axis=-1)
    else:
        q, k, v = (x @ w[f"{p}self_attn.{n}_proj.weight"].T for n in "qkv")
        if kind == "qwen2":
            q, k, v = (
                t + w[f"{p}self_attn.{n}_proj.bias"] for t, n in zip((q, k, v), "qkv", strict=True)
            )
    n = x.shape[0]
    q, k, v = q.reshape(n, heads, d), k.reshape(n, kv_heads, d), v.reshape(n, kv_heads, d)
    if kind in ("qwen3", "gemma3"):
        q = _norm(q, w[p + "self_attn.q_norm.weight"], config, kind == "gemma3")
        k = _norm(k, w[p + "self_attn.k_norm.weight"], config, kind == "gemma3")
    return q, k, v


def _attention(
    kind: str, config: dict[str, Any], w: dict[str, Array], p: str, layer: int, x: Array
) -> Array:
    q, k, v = _qkv(kind, config, w, p, x)
    sliding = kind.startswith("gemma") and _slides(kind, config, layer)
    theta = config["rope_local_base_freq"] if sliding and kind == "gemma3" else config["rope_theta"]
    q, k = _rope(q, theta), _rope(k, theta)
    group = q.shape[1] // k.shape[1]
    k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
    scale = float(config.get("query_pre_attn_scalar") or q.shape[-1]) ** -0.5
    scores = np.einsum("ihd,jhd->hij", q, k) * scale
    cap = config.get("attn_logit_softcapping") if kind == "gemma2" else None
    if cap:
        scores = np.tanh(scores / cap) * cap
    n = x.shape[0]
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    allowed = (j <= i) & ((i - j < config["sliding_window"]) if sliding else True)
    scores = np.where(allowed, scores, -np.inf)
    scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probs = scores / scores.sum(axis=-1, keepdims=True)
    out: Array = np.einsum("hij,jhd->ihd", probs, v).reshape(n, -1)
    return out @ w[p + "self_attn.o_proj.weight"].T


def _slides(kind: str, config: dict[str, Any], layer: int) -> bool:
    if "layer_types" in config:
        return bool(config["layer_types"][layer] == "sliding_attention")
    return layer % 2 == 0  # Gemma 2: every other layer, the first one sliding


def _rope(x: Array, theta: float) -> Array:
    """transformers' RoPE: the first and second halves of each head are the pairs."""
    n, _, d = x.shape
    inv = theta ** (-np.arange(0, d, 2) / d)
    angles = np.arange(n)[:, None] * inv[None, :]
    cos, sin = np.cos(angles)[:, None, :], np.sin(angles)[:, None, :]
    first, second = x[..., : d // 2], x[..., d // 2 :]
    return np.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)


def _mlp(kind: str, config: dict[str, Any], w: dict[str, Array], p: str, x: Array) -> Array:
    if kind == "phi3":
        gate, up = np.split(x @ w[p + "mlp.gate_up_proj.weight"].T, 2, axis=-1)
    else:
        gate, up = x @ w[p + "mlp.gate_proj.weight"].T, x @ w[p + "mlp.up_proj.weight"].T
    active = _gelu_tanh(gate) if kind.startswith("gemma") else gate / (1.0 + np.exp(-gate))
    return (active * up) @ w[p + "mlp.down_proj.weight"].T


def _gelu_tanh(x: Array) -> Array:
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
