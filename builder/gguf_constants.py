"""The ``gguf`` package's constants, without the rest of the package.

ladle reads GGUF headers itself (:mod:`builder.gguf_header`) and needs from ``gguf`` only
its tables: value types, quantization types and their block sizes, file types. They live
in ``gguf/constants.py``, which needs nothing but the standard library; but ``import gguf``
runs the package's ``__init__``, which imports its reader, writer and numpy: about 100 ms
and 11 MB of resident memory, paid by the server before every first model load (the
placement planner reads the GGUF header) and by every command that inspects a GGUF. So
the file is loaded here on its own, once. Its enums are ``IntEnum``s, equal by value to
those of ``gguf.constants`` where both are loaded.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING


def _load() -> ModuleType:
    package = importlib.util.find_spec("gguf")
    if package is None or package.origin is None:  # pragma: no cover - a dependency
        raise ImportError("ladle needs the gguf package")
    path = Path(package.origin).with_name("constants.py")
    spec = importlib.util.spec_from_file_location("ladle_gguf_constants", path)
    if spec is None or spec.loader is None:  # pragma: no cover
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if TYPE_CHECKING:
    from gguf.constants import (
        GGML_QUANT_SIZES,
        GGMLQuantizationType,
        GGUFValueType,
        LlamaFileType,
    )
else:
    _constants = _load()
    GGML_QUANT_SIZES = _constants.GGML_QUANT_SIZES
    GGMLQuantizationType = _constants.GGMLQuantizationType
    GGUFValueType = _constants.GGUFValueType
    LlamaFileType = _constants.LlamaFileType

__all__ = ["GGML_QUANT_SIZES", "GGMLQuantizationType", "GGUFValueType", "LlamaFileType"]
