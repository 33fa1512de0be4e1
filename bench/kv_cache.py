"""KV cache types (issue 18): bytes a token, perplexity and decode speed per type, and
prompt evaluation against llama.cpp's ``llama-server`` in the same run.

For each model (SmolLM2 135M and Gemma 3 270M; the tests' tiny llama with a head
dimension of 32 under ``--quick``) and each cache type (``f16``, ``q8_0``, ``q4_0``), one
:class:`runtime.runner.native.LlamaModel` (ladle's runner's own boundary with llama.cpp,
flash attention ``auto``) is loaded with one sequence of :data:`PPL_CTX` tokens, and:

- **bytes a token**: the KV cache llama.cpp allocated (its ``llama_kv_cache: size`` log
  lines, as the runner reads them) over its cells, every layer's K and V; and, as a
  check, the growth of the sequence's state as llama.cpp serializes it
  (``llama_state_seq_get_size``) per token of a full chunk (K and V, plus 12 bytes of
  each cell's position and sequence ids);
- **perplexity**: llama.cpp's ``perplexity`` method on :data:`TEXT` (ladle's README and
  two of its docs, copied into ``bench/data`` so the figure does not move with the docs):
  the text cut into chunks of :data:`PPL_CTX` tokens, the first a BOS where the model adds
  one, each chunk evaluated from an empty cache, and the negative log-likelihood of the
  next token counted over each chunk's second half (every token has at least half a
  chunk of context). ``exp`` of the mean is the perplexity;
- **decode tokens/s**: greedy decoding of :data:`DECODE_TOKENS` tokens one at a time after
  a half-chunk prompt, the decode calls timed (sampling is an argmax in numpy).

Then :mod:`bench.kv_prompt_eval` times prompt evaluation of 4,000- and 8,000-token
prompts through ``ladle serve`` and ``llama-server``.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench import kv_prompt_eval
from bench.serving_models import GEMMA3_NAME, SMOLLM2_NAME, gemma3, smollm2

if TYPE_CHECKING:
    from runtime.runner.native import LlamaLog

TEXT = Path(__file__).parent / "data" / "kv_cache_text.md"
TYPES = ("f16", "q8_0", "q4_0")
PPL_CTX = 512
PPL_CHUNKS = {False: 8, True: 2}
"""Chunks: 8 of 512 tokens, 4,096 tokens evaluated and 2,040 predicted."""
DECODE_TOKENS = {False: 128, True: 16}
CELL_PADDING = 256


def run(quick: bool = False) -> dict[str, Any]:
    """Every model's figures, and the settings they were measured with."""
    from runtime.runner.native import LlamaLog

    started = time.perf_counter()
    # One log callback for the run: llama.cpp keeps calling the last one set, so it must
    # outlive every model (and the tokenizers) loaded here.
    log = LlamaLog()
    with tempfile.TemporaryDirectory(prefix="ladle-kv-") as folder:
        results: dict[str, Any] = {"models": {}}
        for key, (name, path) in _models(Path(folder), quick).items():
            entry: dict[str, Any] = {"name": name}
            entry["types"] = {}
            for kind in TYPES:
                print(f"bench: kv_cache: {key} {kind}", file=sys.stderr)
                entry["types"][kind] = measure(path, kind, quick, log)
            print(f"bench: kv_cache: {key} prompt evaluation", file=sys.stderr)
            entry["prompt_eval"] = kv_prompt_eval.compare(path, Path(folder) / key, quick)
            results["models"][key] = entry
    results["settings"] = {
        "ppl_ctx": PPL_CTX, "ppl_chunks": PPL_CHUNKS[quick], "decode_tokens": DECODE_TOKENS[quick],
        "threads": threads(), "text": str(TEXT.relative_to(TEXT.parents[2])),
        "flash_attention": "auto", "total_wall_s": round(time.perf_counter() - started, 1),
    }  # fmt: skip
    return results


def threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1


def _models(folder: Path, quick: bool) -> dict[str, tuple[str, Path]]:
    if quick:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.fixtures.tiny_gguf import write_tiny_llama

        tiny = write_tiny_llama(folder / "tiny32.gguf", n_head=2, n_head_kv=1)
        return {"tiny": ("tiny llama (random weights, head dimension 32)", tiny)}
    models = {"smollm2": (SMOLLM2_NAME, smollm2())}
    gemma = gemma3(folder)
    if gemma is not None:
        models["gemma3"] = (GEMMA3_NAME, gemma)
    return models


def measure(path: Path, kv_type: str, quick: bool, log: LlamaLog) -> dict[str, Any]:
    """One cache type on one model: bytes a token, perplexity, decode speed."""
    from runtime.protocol import LoadSpec
    from runtime.runner.kv_cache import CacheLog
    from runtime.runner.native import LlamaModel

    # llama.cpp pads a cache to 256 cells: a multiple of 256 makes bytes / cells exact
    n_ctx = -(-(PPL_CTX + DECODE_TOKENS[quick]) // CELL_PADDING) * CELL_PADDING
    spec = LoadSpec(
        model_path=path, n_ctx=n_ctx, n_batch=PPL_CTX, num_parallel=1, n_threads=threads(),
        kv_cache_type=kv_type,
    )  # fmt: skip
    log.cache = CacheLog()  # this model's KV cache size, not the sum of all of them
    model = LlamaModel(spec, log)
    try:
        tokens = model.tokenize(TEXT.read_text(encoding="utf-8"), add_special=False)
        chunks = [tokens[i * PPL_CTX : (i + 1) * PPL_CTX] for i in range(PPL_CHUNKS[quick])]
        empty = _state_size(model)
        nll, scored, per_token = 0.0, 0, 0.0
        for chunk in chunks:
            loss, count = _chunk_nll(model, chunk)
            nll, scored = nll + loss, scored + count
            per_token = (_state_size(model) - empty) / len(chunk)
        return {
            "bytes_per_token": model.kv_bytes / n_ctx,
            "allocated_bytes": model.kv_bytes,
            "cells": n_ctx,
            "state_bytes_per_token": per_token,
            "perplexity": math.exp(nll / scored),
            "scored_tokens": scored,
            "flash_attention": model.flash_attention,
            "decode_tps": _decode_tps(model, tokens[: PPL_CTX // 2], DECODE_TOKENS[quick]),
        }
    finally:
        model.close()


def _state_size(model: Any) -> int:
    import llama_cpp

    return int(llama_cpp.llama_state_seq_get_size(model.ctx, 0))


def _chunk_nll(model: Any, chunk: list[int]) -> tuple[float, int]:
    """Sum of the next token's negative log-likelihood over the chunk's second half."""
    from runtime.runner.native import Batch

    tokens = list(chunk)
    if model.bos is not None:
        tokens[0] = model.bos
    first = len(tokens) // 2
    batch = Batch(len(tokens))
    try:
        model.forget(0)
        for pos, token in enumerate(tokens):
            batch.add(token, pos, 0, pos >= first)
        if model.decode(batch) != 0:
            raise RuntimeError("llama_decode failed on a perplexity chunk")
        total = 0.0
        for pos in range(first, len(tokens) - 1):
            logits = _logits(model, pos)
            total += float(_logsumexp(logits) - logits[tokens[pos + 1]])
        return total, len(tokens) - 1 - first
    finally:
        batch.close()


def _logits(model: Any, index: int) -> np.ndarray[Any, Any]:
    """The logits at the last decode's batch position ``index`` (-1: its last output)."""
    import llama_cpp

    pointer = llama_cpp.llama_get_logits_ith(model.ctx, index)
    return np.ctypeslib.as_array(pointer, shape=(model.n_vocab,)).astype(np.float64)


def _logsumexp(logits: np.ndarray[Any, Any]) -> float:
    top = float(logits.max())
    return top + math.log(float(np.exp(logits - top).sum()))


def _decode_tps(model: Any, prompt: list[int], n_tokens: int) -> float:
    """Greedy decode speed after ``prompt``: tokens over the time spent in llama_decode."""
    from runtime.runner.native import Batch

    batch = Batch(len(prompt))
    try:
        model.forget(0)
        for pos, token in enumerate(prompt):
            batch.add(token, pos, 0, pos == len(prompt) - 1)
        model.decode(batch)
        spent, pos = 0.0, len(prompt)
        token = int(np.argmax(_logits(model, -1)))
        for _ in range(n_tokens):
            batch.clear()
            batch.add(token, pos, 0, True)
            began = time.perf_counter()
            model.decode(batch)
            spent += time.perf_counter() - began
            token, pos = int(np.argmax(_logits(model, -1))), pos + 1
        return n_tokens / spent
    finally:
        batch.close()
