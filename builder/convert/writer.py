"""Converting an opened checkpoint into a GGUF file, one tensor at a time.

:func:`plan_conversion` reads and checks everything but the weights' data: the
architecture, the hyperparameters, each tensor's name and shape against the config, the
tokenizer. Only then does :func:`write_gguf` write: the header (metadata and the table
of tensors, known from the safetensors headers alone), then each tensor's data, read,
reordered where llama.cpp needs it, written and dropped before the next one is read, so
memory holds one tensor at a time.

Weights keep their checkpoint's precision (F32, F16 or BF16): converting loses nothing,
and ``--quantize`` makes them smaller afterwards. Norms and biases (1-D tensors) are
stored as F32, as llama.cpp expects.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import numpy.typing as npt

from builder.convert import architectures, rope
from builder.convert.architectures import Architecture, Hyperparameters
from builder.convert.checkpoint import CONFIG, Checkpoint, TensorSource, read_json
from builder.convert.metadata import write_hyperparameters
from builder.convert.vocabulary import Vocabulary, read_vocabulary
from ladle.errors import BuildInputError

TensorProgress = Callable[[int, int], None]
"""Called with the bytes of tensor data written so far and the total."""

_TYPES = {
    "F32": gguf.GGMLQuantizationType.F32,
    "F16": gguf.GGMLQuantizationType.F16,
    "BF16": gguf.GGMLQuantizationType.BF16,
}
_NUMPY = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}
_FILE_TYPES = {
    "F32": gguf.LlamaFileType.ALL_F32,
    "F16": gguf.LlamaFileType.MOSTLY_F16,
    "BF16": gguf.LlamaFileType.MOSTLY_BF16,
}


@dataclass(frozen=True)
class PlannedTensor:
    """One GGUF tensor: where its data comes from, its shape and its stored type."""

    name: str
    shape: tuple[int, ...]
    type: str
    source: TensorSource | None = None
    generated: npt.NDArray[Any] | None = field(default=None, compare=False)

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * np.dtype(_NUMPY[self.type]).itemsize


@dataclass(frozen=True)
class Conversion:
    """Everything checked: what the GGUF will hold."""

    checkpoint: Checkpoint
    arch: Architecture
    hp: Hyperparameters
    vocabulary: Vocabulary
    tensors: list[PlannedTensor]

    @property
    def file_type(self) -> str:
        """The type most weight bytes have: the GGUF's ``general.file_type``."""
        weights: dict[str, int] = {}
        for tensor in self.tensors:
            if len(tensor.shape) > 1:
                weights[tensor.type] = weights.get(tensor.type, 0) + tensor.nbytes
        return max(weights, key=lambda kind: weights[kind], default="F32")


def plan_conversion(checkpoint: Checkpoint) -> Conversion:
    """Check ``checkpoint`` as a whole and say what its GGUF holds; nothing is written."""
    config_path = checkpoint.named(CONFIG)
    arch = architectures.architecture_of(checkpoint.config, config_path)
    hp = Hyperparameters.of(checkpoint.config, config_path, arch)
    tensors = _extra_tensors(checkpoint, arch, hp) + _plan_tensors(checkpoint, arch, hp)
    vocabulary = read_vocabulary(checkpoint, hp.vocab_size)
    return Conversion(checkpoint, arch, hp, vocabulary, tensors)


def _plan_tensors(
    checkpoint: Checkpoint, arch: Architecture, hp: Hyperparameters
) -> list[PlannedTensor]:
    expected = architectures.expected_shapes(arch, hp)
    allowed = expected | architectures.optional_tensors(hp)
    planned: dict[str, PlannedTensor] = {}
    for hf_name, source in checkpoint.items():
        if architectures.is_skipped(arch, hf_name):
            continue
        name = architectures.gguf_name(arch, hp, hf_name)
        where = f"{source.shard.path}: tensor {hf_name!r}"
        if name is None or name not in allowed:
            raise BuildInputError(f"{where} is not part of a {arch.hf_names[0]} model")
        if source.entry.shape != allowed[name]:
            raise BuildInputError(
                f"{where} has shape {list(source.entry.shape)}, but {CONFIG} makes it "
                f"{list(allowed[name])}"
            )
        stored = "F32" if len(allowed[name]) == 1 else source.entry.dtype
        planned[name] = PlannedTensor(name, allowed[name], stored, source)
    missing = [name for name in expected if name not in planned]
    if missing:
        raise BuildInputError(
            f"{checkpoint.folder}: {len(missing)} tensor(s) the config needs are in no shard, "
            f"first {', '.join(missing[:3])} (GGUF names)"
        )
    return [planned[name] for name in allowed if name in planned]


def _extra_tensors(
    checkpoint: Checkpoint, arch: Architecture, hp: Hyperparameters
) -> list[PlannedTensor]:
    config_path = checkpoint.named(CONFIG)
    if rope.scaling_type(checkpoint.config.get("rope_scaling"), config_path) != "llama3":
        return []
    if arch.arch != gguf.MODEL_ARCH.LLAMA:
        raise BuildInputError(f"{config_path}: llama3 RoPE scaling on a {arch.name} model")
    factors = rope.llama3_factors(checkpoint.config, hp.head_dim, config_path)
    return [PlannedTensor(rope.ROPE_FREQS, factors.shape, "F32", generated=factors)]


def write_gguf(
    conversion: Conversion, target: Path, name: str, progress: TensorProgress | None = None
) -> None:
    """Write the GGUF of ``conversion`` at ``target`` (named ``name``)."""
    _check_name(conversion, name)
    writer = gguf.GGUFWriter(target, conversion.arch.name)
    try:
        _write_metadata(writer, conversion, name)
        for tensor in conversion.tensors:
            writer.add_tensor_info(
                tensor.name,
                tensor.shape,
                np.dtype(_NUMPY[tensor.type]),
                tensor.nbytes,
                raw_dtype=_TYPES[tensor.type],
            )
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        total, done = sum(tensor.nbytes for tensor in conversion.tensors), 0
        for tensor in conversion.tensors:
            writer.write_tensor_data(_load(conversion, tensor))
            done += tensor.nbytes
            if progress is not None:
                progress(done, total)
    finally:
        writer.close()


PHI3_NAMED_TOKENS = ("<unk>", "<s>", "</s>", "<|endoftext|>")
"""Tokens llama.cpp looks up, and fails to load without, in a model named like Phi-3."""


def _check_name(conversion: Conversion, name: str) -> None:
    """llama.cpp sets attributes of Phi-3's special tokens in any model whose
    ``general.name`` contains ``phi3`` or ``phi-3``, and cannot load one that lacks them."""
    if "phi3" not in name.lower() and "phi-3" not in name.lower():
        return
    known = set(conversion.vocabulary.tokens)
    missing = [token for token in PHI3_NAMED_TOKENS if token not in known]
    if missing:
        raise BuildInputError(
            f"{conversion.checkpoint.folder}: llama.cpp reads a model named {name!r} as "
            f"Phi-3 and looks up {', '.join(missing)}, which its vocabulary lacks; "
            "name the folder otherwise"
        )


def _load(conversion: Conversion, tensor: PlannedTensor) -> npt.NDArray[Any]:
    """The tensor's data as it is stored: converted to its stored type, reordered."""
    if tensor.generated is not None:
        return tensor.generated
    assert tensor.source is not None  # a PlannedTensor is generated or read
    data = tensor.source.read()
    if tensor.type == "F32" and tensor.source.entry.dtype == "BF16":
        data = (data.astype(np.uint32) << 16).view(np.float32)  # BF16 is F32's top half
    elif tensor.type == "F32":
        data = data.astype(np.float32, copy=False)  # F32 stays the mapped file
    data = architectures.transform(conversion.arch, conversion.hp, tensor.name, data)
    return np.ascontiguousarray(data)


def _write_metadata(writer: gguf.GGUFWriter, conversion: Conversion, name: str) -> None:
    checkpoint, arch, hp = conversion.checkpoint, conversion.arch, conversion.hp
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name)
    parameters = sum(math.prod(tensor.shape) for tensor in conversion.tensors)
    writer.add_size_label(gguf.size_label(parameters, 0, 0, 0))
    config_path = checkpoint.named(CONFIG)
    write_hyperparameters(writer, arch, hp, checkpoint.config, config_path)
    writer.add_file_type(_FILE_TYPES[conversion.file_type])
    _write_vocabulary(writer, conversion)


def _write_vocabulary(writer: gguf.GGUFWriter, conversion: Conversion) -> None:
    vocabulary, checkpoint = conversion.vocabulary, conversion.checkpoint
    writer.add_tokenizer_model(vocabulary.model)
    writer.add_tokenizer_pre(vocabulary.pre)
    writer.add_token_list(vocabulary.tokens)
    if vocabulary.scores is not None:
        writer.add_token_scores(vocabulary.scores)
    writer.add_token_types(vocabulary.types)
    prefix = vocabulary.add_space_prefix
    config_path = checkpoint.named("tokenizer_config.json")
    if conversion.arch.arch == gguf.MODEL_ARCH.LLAMA and config_path.is_file():
        given = read_json(config_path, what="the tokenizer's settings").get("add_prefix_space")
        prefix = given if isinstance(given, bool) else prefix  # as llama.cpp's, for Llama
    if prefix is not None:
        writer.add_add_space_prefix(prefix)
    bpe = vocabulary.model == "gpt2"
    tokenizer = checkpoint.named("tokenizer.json" if bpe else "tokenizer.model")
    try:
        special = gguf.SpecialVocab(
            checkpoint.folder, load_merges=bpe, n_vocab=len(vocabulary.tokens)
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise BuildInputError(f"{tokenizer}: {exc}") from None
    if bpe and not special.merges:
        raise BuildInputError(f"{tokenizer}: a BPE tokenizer without merges")
    special.add_to_gguf(writer, quiet=True)
