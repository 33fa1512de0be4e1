"""The ``gguf`` package's constants, without the rest of the package.

ladle reads GGUF headers itself (:mod:`builder.gguf.header`) and needs from ``gguf`` only
its tables: value types, quantization types and their block sizes, file types. They live
in ``gguf/constants.py``, which needs nothing but the standard library; but ``import gguf``
runs the package's ``__init__``, which imports its reader, writer and numpy: about 100 ms
and 11 MB of resident memory, paid by the server before every first model load (the
placement planner reads the GGUF header) and by every command that inspects a GGUF. So
the file is loaded here on its own, once. Its enums are ``IntEnum``s, equal by value to
those of ``gguf.constants`` where both are loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ladle.standalone import load_module_file

if TYPE_CHECKING:
    from gguf.constants import (
        GGML_QUANT_SIZES,
        GGMLQuantizationType,
        GGUFValueType,
        LlamaFileType,
    )
else:
    _constants = load_module_file("gguf", "constants.py", "ladle_gguf_constants")
    GGML_QUANT_SIZES = _constants.GGML_QUANT_SIZES
    GGMLQuantizationType = _constants.GGMLQuantizationType
    GGUFValueType = _constants.GGUFValueType
    LlamaFileType = _constants.LlamaFileType

__all__ = ["GGML_QUANT_SIZES", "GGMLQuantizationType", "GGUFValueType", "LlamaFileType"]
