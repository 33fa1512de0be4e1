"""Quantizing model weights with llama.cpp's quantizer (``ladle create --quantize TYPE``).

llama.cpp's ``llama_model_quantize`` runs in a child process (``python -m
builder.pipeline.quantize``): a failed ``GGML_ASSERT`` inside llama.cpp aborts the process it runs
in, and that must be the child, never ladle. The child's log is read line by line, for
progress (``[  3/ 291] blk.0.attn_q.weight ...``) and for the reason of a failure.

Sources are F32, F16 or BF16 weights. Quantizing weights that are quantized already
loses quality twice, so it must be asked for (``requantize``) and is warned about.

A cache in the store (``.ladle/cache/quantize/``) maps (source digest, type,
llama-cpp-python version) to the digest of the result: quantizing the same weights again
with the same llama.cpp takes no time, as long as the result's blob is still there.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from builder.store.manifest import check_digest
from builder.store.store import Store
from ladle.atomic import write_atomically
from ladle.errors import BuildError, QuantizeRefusedError, StoreError
from ladle.versions import installed_version

if TYPE_CHECKING:
    from builder.gguf.file import GGUFInfo

SOURCE_TYPES = ("F32", "F16", "BF16")
"""File types that are quantized without ``requantize``: unquantized weights."""

TYPES = (
    *("F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_1", "Q5_0"),
    *("Q4_K_M", "Q4_K_S", "Q4_1", "Q4_0", "IQ4_NL", "IQ4_XS"),
    *("Q3_K_L", "Q3_K_M", "Q3_K_S", "IQ3_M", "IQ3_S", "Q2_K"),
)
"""Every type llama.cpp's quantizer makes without an importance matrix, largest first.

Each is llama.cpp's ``LLAMA_FTYPE_MOSTLY_<TYPE>`` (:func:`llama_ftype`). Left out:
IQ1_*, IQ2_*, IQ3_XXS, IQ3_XS and Q2_K_S (llama.cpp refuses them without an importance
matrix), TQ1_0 and TQ2_0 (ternary: for BitNet models only), MXFP4_MOE (for mixtures of
experts), Q1_0, Q2_0 and NVFP4 (which gguf-py cannot read or llama.cpp cannot make).
"""

CACHE_FOLDER = ("cache", "quantize")
"""Under the store's private folder."""

LOG_LINES = 20
"""Lines of llama.cpp's log kept to explain a failure."""

_TENSOR_DONE = re.compile(r"^\[\s*(\d+)/\s*(\d+)\]")
_FAILURE = re.compile(r"error|failed|abort|assert", re.IGNORECASE)
# llama_model_quantize's own report; it may follow a tensor's line on the same line.
_QUANTIZE_FAILED = re.compile(r"failed to quantize: (.*)")

TensorProgress = Callable[[int, int], None]
"""Called with the number of tensors written and the number in the model."""


class QuantizeStep(BaseModel):
    """A build's request to quantize its model weights, as the plan records it."""

    model_config = ConfigDict(frozen=True)

    type: str
    """One of :data:`TYPES`."""
    requantize: bool = False
    """Weights that are quantized already may be quantized again."""


@dataclass(frozen=True)
class QuantizedBlob:
    """Quantized weights in the store; ``cached`` when the quantizer did not run."""

    digest: str
    size: int
    info: GGUFInfo
    cached: bool


def quantize_type(text: str) -> str:
    """The type ``text`` names (any case: ``q4_k_m``); a ``QuantizeRefusedError`` lists the
    valid ones."""
    name = text.strip().upper()
    if name not in TYPES:
        raise QuantizeRefusedError(
            f"unknown quantization type {text!r}; llama.cpp's quantizer makes {', '.join(TYPES)}"
        )
    return name


def check_source(file_type: str, step: QuantizeStep, what: str) -> str | None:
    """Whether weights of ``file_type`` (``what``: where they come from) may be quantized.

    Returns a warning to show when they are quantized already and ``step.requantize``
    allows it; raises ``QuantizeRefusedError`` when it does not. An unknown file type passes:
    llama.cpp refuses quantized tensors itself unless requantizing.
    """
    if file_type in ("", "unknown", step.type, *SOURCE_TYPES):
        return None
    if not step.requantize:
        raise QuantizeRefusedError(
            f"{what} is quantized already ({file_type}); quantizing it to {step.type} "
            "loses quality twice. Quantize F32, F16 or BF16 weights, or allow it with "
            "the requantize build option"
        )
    return f"warning: requantizing {what} from {file_type} to {step.type} loses quality twice"


def quantize(
    source: Path,
    target: Path,
    type_name: str,
    threads: int | None = None,
    *,
    requantize: bool = False,
    progress: TensorProgress | None = None,
) -> None:
    """Write the GGUF ``source`` quantized to ``type_name`` at ``target``, in a child process.

    ``threads`` None uses every core. Raises ``BuildError`` with llama.cpp's reason when
    the quantizer refuses or crashes; no ``target`` is left behind then.
    """
    command = [
        sys.executable,
        "-m",
        "builder.pipeline.quantize",
        os.fspath(source),
        os.fspath(target),
    ]
    command += [type_name, str(threads or 0), *(["--requantize"] if requantize else [])]
    log: deque[str] = deque(maxlen=LOG_LINES)
    failures: deque[str] = deque(maxlen=3)
    with subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as child:
        try:
            assert child.stdout is not None  # stdout=PIPE
            for raw in child.stdout:
                line = raw.decode("utf-8", "replace").strip()
                log.append(line)
                if reported := _QUANTIZE_FAILED.search(line):
                    failures.append(reported[1])
                elif _FAILURE.search(line):
                    failures.append(line)
                elif progress is not None and (done := _TENSOR_DONE.match(line)):
                    progress(int(done[1]), int(done[2]))
            status = child.wait()
        except BaseException:  # an interrupt, or a progress callback that raised
            child.kill()
            target.unlink(missing_ok=True)
            raise
    if status != 0:
        target.unlink(missing_ok=True)
        reason = _reason(status, list(failures) or list(log)[-3:])
        raise BuildError(f"quantizing {source.name} to {type_name} failed: {reason}")


def _reason(status: int, lines: list[str]) -> str:
    said = "; ".join(line for line in lines if line)
    if status < 0:
        crash = f"llama.cpp crashed ({signal.Signals(-status).name})"
        return f"{crash}: {said}" if said else crash
    return said or f"the quantizer exited with status {status}"


def quantize_blob(
    store: Store,
    source_digest: str,
    step: QuantizeStep,
    progress: TensorProgress | None = None,
    threads: int | None = None,
) -> QuantizedBlob:
    """The model blob ``source_digest`` quantized as ``step`` asks, stored in ``store``.

    The result is checked as a GGUF of the requested type before it is stored; when this
    llama.cpp quantized the same blob to the same type before, the cached result is used.
    """
    from builder.gguf.file import inspect_gguf  # gguf and numpy load only when quantizing

    cache = QuantizeCache(store)
    digest = cache.get(source_digest, step.type)
    if digest is not None:
        path = store.blob_path(digest)
        return QuantizedBlob(digest, path.stat().st_size, inspect_gguf(path), cached=True)
    with tempfile.TemporaryDirectory(dir=store.private_folder("tmp")) as folder:
        target = Path(folder) / f"{step.type}.gguf"
        source = store.blob_path(source_digest)
        quantize(source, target, step.type, threads, requantize=step.requantize, progress=progress)
        info = inspect_gguf(target, display_name=f"the {step.type} weights llama.cpp wrote")
        if info.file_type != step.type:
            raise BuildError(f"llama.cpp wrote {info.file_type} weights, not {step.type}")
        with target.open("rb") as handle:
            digest, size = store.put_stream(handle)
    cache.put(source_digest, step.type, digest)
    return QuantizedBlob(digest, size, info, cached=False)


class QuantizeCache:
    """(source digest, type, llama-cpp-python version) -> digest of the quantized blob."""

    def __init__(self, store: Store, llama_cpp_version: str | None = None) -> None:
        self.store = store
        self.version = llama_cpp_version or _llama_cpp_version()

    def get(self, source_digest: str, type_name: str) -> str | None:
        """The digest of the cached result, when its blob is still in the store."""
        try:
            digest = check_digest(self._path(source_digest, type_name).read_text().strip())
        except (OSError, StoreError):
            return None
        return digest if self.store.has_blob(digest) else None

    def put(self, source_digest: str, type_name: str, digest: str) -> None:
        write_atomically(self._path(source_digest, type_name), digest.encode("ascii"))

    def _path(self, source_digest: str, type_name: str) -> Path:
        key = json.dumps([source_digest, type_name, self.version]).encode("utf-8")
        return self.store.private_folder(*CACHE_FOLDER) / hashlib.sha256(key).hexdigest()


def _llama_cpp_version() -> str:
    # The package's metadata, not llama_cpp.__version__: importing llama_cpp loads llama.cpp.
    return installed_version("llama-cpp-python") or "unknown"


def llama_ftype(type_name: str) -> int:
    """llama.cpp's ``llama_ftype`` value for one of :data:`TYPES` (loads llama.cpp)."""
    import llama_cpp  # the child process alone loads llama.cpp

    return int(getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{type_name}"))


def _child(argv: list[str]) -> int:
    """``python -m builder.pipeline.quantize SOURCE TARGET TYPE THREADS [--requantize]``."""
    import llama_cpp

    source, target, type_name, threads = argv[:4]
    params = llama_cpp.llama_model_quantize_default_params()
    params.nthread = int(threads)
    params.ftype = llama_ftype(type_name)
    params.allow_requantize = "--requantize" in argv[4:]
    status = llama_cpp.llama_model_quantize(
        os.fsencode(source), os.fsencode(target), ctypes.byref(params)
    )
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
