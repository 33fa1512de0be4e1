"""The models of the speculative decoding benchmark, and what a verify batch costs.

The target is the bundled SmolLM2-135M-Instruct (Q4_1). Its draft must share its
vocabulary; no smaller model with SmolLM2's vocabulary is bundled, so the draft is the same
weights requantized to Q4_0 (llama.cpp's quantizer, requantizing allowed), cached under
``~/.cache/ladle/bench/speculation/``. Such a draft is as costly per token as its target:
it shows the machinery and the fallback, not a speed-up, and the report says so.

:func:`verify_costs` decodes ``1 + k`` tokens (logits for each, as a verify batch has)
after a 256-token context, for the file types llama.cpp has batched matrix paths for
(Q4_0, Q8_0) and the bundled Q4_1, and reports each size's cost in one-token steps.
"""

from __future__ import annotations

import functools
import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench.llama_server import CACHE

FOLDER = CACHE / "speculation"
FILE_TYPES = {"Q4_0": 2, "Q8_0": 7}
"""llama.cpp's ``LLAMA_FTYPE_MOSTLY_*`` of the requantized copies."""
VERIFY_SIZES = tuple(range(1, 10))
"""Batch sizes timed: one token, then one plus up to 8 proposals."""
CONTEXT_TOKENS = 256


@functools.cache
def llama_log() -> Any:
    """The process's one llama.cpp log handler: llama.cpp keeps calling the last one set,
    so it must live as long as the process (a freed one crashes the next log line)."""
    from runtime.runner.native import LlamaLog

    return LlamaLog()


def target_model() -> Path:
    from tests.fixtures.installed import smollm2_gguf

    return smollm2_gguf()


def draft_model() -> Path:
    return requantized("Q4_0")


def requantized(file_type: str) -> Path:
    """The target requantized to ``file_type`` (made once, then reused)."""
    import llama_cpp as llama

    FOLDER.mkdir(parents=True, exist_ok=True)
    source = target_model()
    path = FOLDER / f"{source.stem}.{file_type}.gguf"
    if path.is_file():
        return path
    params = llama.llama_model_quantize_default_params()
    params.ftype = FILE_TYPES[file_type]
    params.allow_requantize = True
    params.nthread = len(os.sched_getaffinity(0))
    temporary = path.with_suffix(".tmp")
    if llama.llama_model_quantize(bytes(source), bytes(temporary), params) != 0:
        raise RuntimeError(f"llama.cpp could not quantize {source} to {file_type}")
    temporary.replace(path)
    return path


def verify_costs(quick: bool, n_gpu_layers: int = 0) -> dict[str, Any]:
    """Per file type: seconds of a 1-token step and each size's cost in such steps, on
    the CPU or, with ``n_gpu_layers`` (-1: all), a GPU (``bench/gpu_check.sh``)."""
    paths = {"Q4_1": target_model(), **{name: requantized(name) for name in FILE_TYPES}}
    repeats = 5 if quick else 15
    return {name: _costs(path, repeats, n_gpu_layers) for name, path in paths.items()}


def _costs(path: Path, repeats: int, n_gpu_layers: int) -> dict[str, Any]:
    from runtime.protocol import LoadSpec
    from runtime.runner.native import Batch, LlamaModel

    threads = len(os.sched_getaffinity(0))
    spec = LoadSpec(
        model_path=path,
        n_ctx=1024,
        n_threads=threads,
        num_parallel=1,
        n_gpu_layers=n_gpu_layers,
    )
    model = LlamaModel(spec, llama_log())
    batch = Batch(CONTEXT_TOKENS + max(VERIFY_SIZES))
    try:
        context = [(100 + i) % model.n_vocab for i in range(CONTEXT_TOKENS)]
        _decode(model, batch, context, 0, last_only=True)
        seconds = {n: _timed(model, batch, n, repeats) for n in VERIFY_SIZES}
    finally:
        batch.close()
        model.close()
    one = seconds[1]
    return {
        "one_token_s": one,
        "ratio": {str(n): seconds[n] / one for n in VERIFY_SIZES},
    }


def _timed(model: Any, batch: Any, n: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        proposal = [(7 * i + 11) % model.n_vocab for i in range(n)]
        _decode(model, batch, proposal, CONTEXT_TOKENS, last_only=False)
        times.append(time.perf_counter() - started)
        model.forget(0, CONTEXT_TOKENS)  # back to the context alone
    return statistics.median(times)


def _decode(model: Any, batch: Any, tokens: list[int], start: int, *, last_only: bool) -> None:
    batch.clear()
    for offset, token in enumerate(tokens):
        batch.add(token, start + offset, 0, not last_only or offset == len(tokens) - 1)
    if model.decode(batch) != 0:
        raise RuntimeError("llama_decode failed")
