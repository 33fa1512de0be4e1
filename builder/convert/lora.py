"""A PEFT LoRA adapter folder (``adapter_config.json``, ``adapter_model.safetensors``)
converted into a GGUF LoRA for a given base GGUF: ``ADAPTER ./my-lora`` in a Modelfile.

The GGUF is what llama.cpp's ``convert_lora_to_gguf.py`` writes: ``general.type``
``adapter``, ``adapter.type`` ``lora``, ``adapter.lora.alpha``, the base's
``general.architecture``, and for each adapted matrix ``<gguf name>.lora_a`` (rank by
inputs) and ``<gguf name>.lora_b`` (outputs by rank), in float32. llama.cpp adds
``(alpha / rank) · B·A`` to the matrix, as PEFT does (``lora_alpha / r``); so an adapter
whose scaling is anything else is refused: rsLoRA (``alpha / sqrt(r)``), DoRA, a
per-module ``alpha_pattern``. So are trained biases and ``modules_to_save`` (whole
matrices the adapter replaces): llama.cpp's LoRA cannot carry them. Llama's B rows are
reordered as its Q and K rows are (:func:`.architectures.permute_rotary`).

Everything is checked against the base before anything is written: its architecture
must be one ladle converts, and each A and B must fit the base's matrix (by the shapes
in the base GGUF's header), so an adapter made for another model is a clear error. The
result is cached like a converted checkpoint, by the adapter's file digests and the
base GGUF's header digest.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import numpy.typing as npt

from builder.convert import architectures
from builder.convert.architectures import Architecture
from builder.convert.checkpoint import PEFT_CONFIG, read_json
from builder.convert.imported import ConversionCache
from builder.convert.safetensors import SafetensorsFile
from builder.store.hashing import file_digest
from builder.store.store import Store
from ladle.errors import BuildInputError

CONFIG = PEFT_CONFIG
WEIGHTS = "adapter_model.safetensors"
PEFT_PREFIX = "base_model.model."
REFUSED_SETTINGS = {
    "use_rslora": "rsLoRA scales by alpha/sqrt(r); llama.cpp scales by alpha/r",
    "use_dora": "DoRA's magnitude vectors have no place in a GGUF LoRA",
    "fan_in_fan_out": "transposed (Conv1D) weights are not a decoder ladle converts",
    "modules_to_save": "whole modules saved with the adapter cannot be a LoRA in llama.cpp",
    "alpha_pattern": "a per-module alpha cannot be expressed: llama.cpp has one alpha",
}
"""adapter_config.json settings llama.cpp's LoRA cannot honour, when set."""


def is_peft_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a PEFT adapter."""
    return (folder / CONFIG).is_file()


@dataclass(frozen=True)
class BaseShapes:
    """What an adapter is checked and laid out against: the base GGUF's header."""

    arch: Architecture
    layers: int
    heads: int
    kv_heads: int
    shapes: dict[str, tuple[int, ...]]
    """Each tensor's shape in numpy (row-major) order."""

    @classmethod
    def of(cls, path: Path) -> BaseShapes:
        reader = gguf.GGUFReader(path)
        name = str(reader.fields["general.architecture"].contents())
        arch = next((a for a in architectures.ARCHITECTURES if a.name == name), None)
        if arch is None:
            known = ", ".join(a.name for a in architectures.ARCHITECTURES)
            raise BuildInputError(f"the base model is a {name}; ladle converts LoRAs for {known}")

        def number(key: str) -> int:
            field = reader.fields.get(f"{name}.{key}")
            return int(field.contents()) if field is not None else 0

        shapes = {t.name: tuple(int(n) for n in reversed(t.shape)) for t in reader.tensors}
        heads = number("attention.head_count")
        kv_heads = number("attention.head_count_kv") or heads
        return cls(arch, number("block_count"), heads, kv_heads, shapes)


@dataclass(frozen=True)
class AdapterPair:
    """One adapted matrix: its GGUF name and where its A and B are."""

    name: str
    a: str
    b: str


def import_lora(folder: Path, base: Path, store: Store) -> tuple[str, int]:
    """The GGUF LoRA of the PEFT adapter in ``folder`` for the base GGUF ``base``: its
    digest and size in ``store`` (converted now, or taken from the cache)."""
    from builder.gguf.file import inspect_gguf

    inputs = [file_digest(folder / CONFIG), file_digest(folder / WEIGHTS)]
    key = ["lora", folder.name, inputs, inspect_gguf(base).header_digest]
    cache = ConversionCache(store)
    digest = cache.get(key)
    if digest is None:
        digest = _convert(folder, BaseShapes.of(base), store)
        cache.put(key, digest)
    return digest, store.blob_path(digest).stat().st_size


def check_adapter(folder: Path) -> tuple[float, SafetensorsFile]:
    """The adapter's alpha and weights, once its settings and its file's header are
    checked (what can be checked without the base)."""
    return _check_config(folder / CONFIG), SafetensorsFile(folder / WEIGHTS)


def _convert(folder: Path, base: BaseShapes, store: Store) -> str:
    alpha, weights = check_adapter(folder)
    pairs = _pairs(weights, base)
    with tempfile.TemporaryDirectory(dir=store.private_folder("tmp")) as temp:
        target = Path(temp) / "adapter.gguf"
        writer = gguf.GGUFWriter(target, base.arch.name)
        try:
            writer.add_type(gguf.GGUFType.ADAPTER)
            writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
            writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
            writer.add_name(folder.name)
            for pair in pairs:
                writer.add_tensor(pair.name + ".lora_a", _f32(weights.read(pair.a)))
                writer.add_tensor(pair.name + ".lora_b", _lora_b(weights, pair, base))
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_tensors_to_file()
        finally:
            writer.close()
        with target.open("rb") as handle:
            digest, _ = store.put_stream(handle)
    return digest


def _check_config(path: Path) -> float:
    """``lora_alpha``, once the settings are ones llama.cpp's LoRA honours."""
    config = read_json(path, what="the adapter's settings")
    if config.get("peft_type", "LORA") != "LORA":
        raise BuildInputError(f"{path}: a {config['peft_type']} adapter; ladle converts LoRA")
    for key, reason in REFUSED_SETTINGS.items():
        if config.get(key):
            raise BuildInputError(f"{path}: {key} is set: {reason}")
    if config.get("bias", "none") != "none":
        raise BuildInputError(f"{path}: bias is {config['bias']!r}: trained biases are not a LoRA")
    alpha = config.get("lora_alpha")
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or alpha <= 0:
        raise BuildInputError(f"{path}: 'lora_alpha' must be a positive number, not {alpha!r}")
    return float(alpha)


def _pairs(weights: SafetensorsFile, base: BaseShapes) -> list[AdapterPair]:
    """Each adapted matrix, its A and B checked against the base's shape."""
    names = architectures.name_map(base.arch.arch, base.layers)
    found: dict[str, dict[str, str]] = {}
    for name in weights.tensors:
        where = f"{weights.path}: tensor {name!r}"
        hf, _, part = name.removeprefix(PEFT_PREFIX).rpartition(".lora_")
        target = names.get_name(hf + ".weight", try_suffixes=(".weight",)) if hf else None
        if part not in ("A.weight", "B.weight") or target is None:
            raise BuildInputError(f"{where} is not a LoRA A or B of a {base.arch.name} matrix")
        found.setdefault(target, {})[part[0]] = name
    pairs = []
    for target, parts in sorted(found.items()):
        if set(parts) != {"A", "B"}:
            raise BuildInputError(f"{weights.path}: {target} has a LoRA {''.join(parts)} alone")
        _check_shapes(weights, target, parts, base)
        pairs.append(AdapterPair(target, parts["A"], parts["B"]))
    if not pairs:
        raise BuildInputError(f"{weights.path}: no LoRA tensors")
    return pairs


def _check_shapes(
    weights: SafetensorsFile, target: str, parts: dict[str, str], base: BaseShapes
) -> None:
    shape = base.shapes.get(target)
    a, b = weights.tensors[parts["A"]].shape, weights.tensors[parts["B"]].shape
    if shape is None or len(shape) != 2:
        raise BuildInputError(f"{weights.path}: the base model has no matrix {target}")
    if len(a) != 2 or len(b) != 2 or a[0] != b[1] or a[1] != shape[1] or b[0] != shape[0]:
        raise BuildInputError(
            f"{weights.path}: {target}: A {list(a)} and B {list(b)} do not fit the base's "
            f"{list(shape)} (an adapter for another model?)"
        )


def _lora_b(weights: SafetensorsFile, pair: AdapterPair, base: BaseShapes) -> npt.NDArray[Any]:
    data = _f32(weights.read(pair.b))
    if base.arch.permute_qk and pair.name.endswith("attn_q.weight"):
        return architectures.permute_rotary(data, base.heads)
    if base.arch.permute_qk and pair.name.endswith("attn_k.weight"):
        return architectures.permute_rotary(data, base.kv_heads)
    return data


def _f32(data: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    if data.dtype == np.uint16:  # BF16: the top half of a float32
        return np.ascontiguousarray((data.astype(np.uint32) << 16).view(np.float32))
    return np.ascontiguousarray(data, dtype=np.float32)
