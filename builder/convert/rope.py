"""A config's ``rope_scaling`` as llama.cpp's RoPE scaling keys (or tensor).

``linear`` and ``yarn`` become ``<arch>.rope.scaling.*`` keys. Llama 3.1's ``llama3``
scaling has no key: llama.cpp reads a ``rope_freqs.weight`` tensor of one factor per
rotary frequency, computed here from the config as transformers computes it
(``_compute_llama3_parameters``). Any other type is refused: a model converted without
its scaling loads and then degrades past its original context.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import numpy.typing as npt

from ladle.errors import BuildInputError

ROPE_FREQS = "rope_freqs.weight"


def scaling_type(rope_scaling: Any, path: Path) -> str | None:
    """The scaling's type (``rope_type``, or the older ``type``); None for none."""
    if rope_scaling is None:
        return None
    if not isinstance(rope_scaling, dict):
        raise BuildInputError(f"{path}: 'rope_scaling' must be an object")
    kind = rope_scaling.get("rope_type", rope_scaling.get("type"))
    if kind in (None, "default"):
        return None
    if kind not in ("linear", "yarn", "llama3"):
        raise BuildInputError(
            f"{path}: rope_scaling type {kind!r} is not supported (linear, yarn and llama3 are)"
        )
    return str(kind)


def write_rope_scaling(writer: gguf.GGUFWriter, rope_scaling: Any, path: Path) -> None:
    """The scaling keys for ``linear`` and ``yarn`` (``llama3``: see :func:`llama3_factors`)."""
    kind = scaling_type(rope_scaling, path)
    if kind not in ("linear", "yarn"):
        return
    factor = _number(rope_scaling, "factor", path)
    if kind == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(factor)
        return
    writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
    writer.add_rope_scaling_factor(factor)
    writer.add_rope_scaling_orig_ctx_len(
        int(_number(rope_scaling, "original_max_position_embeddings", path))
    )


def llama3_factors(config: dict[str, Any], head_dim: int, path: Path) -> npt.NDArray[np.float32]:
    """``rope_freqs.weight``: how much Llama 3.1's scaling slows each rotary frequency."""
    scaling = config["rope_scaling"]
    base = float(config.get("rope_theta", 10000.0))
    factor = float(scaling.get("factor", 8.0))
    low = float(scaling.get("low_freq_factor", 1.0))
    high = float(scaling.get("high_freq_factor", 4.0))
    original = float(scaling.get("original_max_position_embeddings", 8192))
    if low >= high:
        raise BuildInputError(f"{path}: rope_scaling needs low_freq_factor < high_freq_factor")
    factors = []
    for i in range(0, head_dim, 2):
        wavelength = 2 * math.pi * base ** (i / head_dim)
        if wavelength < original / high:
            factors.append(1.0)
        elif wavelength > original / low:
            factors.append(factor)
        else:  # between the two: interpolated, as transformers does
            smooth = (original / wavelength - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(factors, dtype=np.float32)


def _number(rope_scaling: dict[str, Any], key: str, path: Path) -> float:
    value = rope_scaling.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise BuildInputError(f"{path}: rope_scaling.{key} must be a positive number")
    return float(value)
