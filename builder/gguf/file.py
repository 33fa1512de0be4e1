"""What the builder needs to know about a GGUF file, checked before the file is stored.

:func:`inspect_gguf` reads the header with every length checked against the file
(:mod:`builder.gguf.header`), refuses what llama.cpp would refuse, and returns a
:class:`GGUFInfo`: the fields of the image config (Ollama's ``model_family``,
``model_type``, ``file_type``), the architecture numbers the runtime sizes memory
with, the tokenizer's chat template and special tokens, and the bytes per layer.

Ollama's conventions are followed where it has them: ``model_type`` is
``format.HumanNumber`` of the parameter count (the sum of all tensors' elements),
``file_type`` is llama.cpp's ftype name, and a model whose architecture declares
``<arch>.pooling_type`` can only embed.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from collections.abc import Mapping
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from builder.gguf.constants import GGMLQuantizationType, LlamaFileType
from builder.gguf.header import read_header
from builder.gguf.header_cursor import raw_strings, string_item
from builder.gguf.header_types import GGUFArray, GGUFHeader, Scalar, Value
from ladle.errors import GGUFError

GGUFKind = Literal["model", "adapter"]
Capability = Literal["completion", "embedding", "vision", "insert"]
MetadataValue = Scalar | tuple[Scalar, ...]

# Encoder-only architectures: they embed and cannot complete text. Their GGUFs declare
# <arch>.pooling_type, which is what Ollama checks; the names cover files that do not.
EMBEDDING_ARCHITECTURES = frozenset(
    {"bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "jina-bert-v3", "modern-bert"}
)
ADAPTER_TYPES = ("lora",)  # llama.cpp's llama_adapter_lora_init accepts only these
# A K-quant tensor type names a family (Q4_K); the usual mix in it is the "_M" one.
_GUESSED_K_FILE_TYPES = {"Q3_K": "Q3_K_M", "Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M"}
_LAYER_TENSOR = re.compile(r"blk\.(\d+)\.")
# The fill-in-the-middle tokens (prefix, suffix, middle) by id: llama.cpp's keys, then
# the older ones CodeLlama GGUFs carry.
_FIM_KEYS = (
    ("fim_pre_token_id", "fim_suf_token_id", "fim_mid_token_id"),
    ("prefix_token_id", "suffix_token_id", "middle_token_id"),
)
# Without those keys llama.cpp (llama-vocab.cpp) finds them by text: Qwen2.5-Coder's,
# SantaCoder's, StarCoder's, DeepSeek-Coder's, CodeLlama's (two spellings), GLM-4's.
_FIM_TEXTS = (
    ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),
    ("<fim-prefix>", "<fim-suffix>", "<fim-middle>"),
    ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),
    ("<\uff5cfim\u2581begin\uff5c>", "<\uff5cfim\u2581hole\uff5c>", "<\uff5cfim\u2581end\uff5c>"),
    ("<PRE>", "<SUF>", "<MID>"),
    ("\u2581<PRE>", "\u2581<SUF>", "\u2581<MID>"),
    ("<|code_prefix|>", "<|code_suffix|>", "<|code_middle|>"),
)

_T = TypeVar("_T", int, float, str)


class GGUFInfo(BaseModel):
    """A checked GGUF model or adapter, as the builder and the runtime see it."""

    model_config = ConfigDict(frozen=True)

    general_type: GGUFKind
    architecture: str
    name: str | None = None
    size_label: str | None = None
    file_type: str
    parameter_count: int
    model_type: str
    context_length: int | None = None
    embedding_length: int | None = None
    block_count: int | None = None
    head_count: int | None = None
    head_count_kv: int | None = None
    chat_template: str | None = None
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    bos_token: str | None = None
    eos_token: str | None = None
    adds_bos: bool = False
    """Whether llama.cpp puts the BOS token before a tokenized text by itself."""
    fim_tokens: tuple[str, str, str] | None = None
    """The fill-in-the-middle tokens' texts (prefix, suffix, middle), when it has them."""
    base_model: dict[str, MetadataValue] = {}
    adapter_type: str | None = None
    lora_alpha: float | None = None
    capabilities: tuple[Capability, ...] = ()
    version: int
    size: int
    tensor_count: int
    layer_bytes: tuple[int, ...] = ()
    other_bytes: int = 0
    metadata: dict[str, MetadataValue] = {}
    """Every key and value but the vocabulary arrays (as Ollama's ``/api/show``)."""
    header_bytes: int = 0
    """Length of everything before the tensor data."""
    header_digest: str = ""
    """SHA-256 of those bytes: a file with the same size and header digest was checked."""


def header_digest(path: str | os.PathLike[str], length: int) -> str:
    """``sha256:`` of the first ``length`` bytes of a file."""
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:  # noqa: PTH123 - path may be any PathLike
        hasher.update(handle.read(length))
    return "sha256:" + hasher.hexdigest()


def inspect_gguf(path: str | os.PathLike[str], *, display_name: str | None = None) -> GGUFInfo:
    """Check the GGUF model or adapter at ``path`` and describe it.

    Raises :class:`GGUFError` naming the file (``display_name`` when given, e.g. the
    Modelfile's reference to a file now in the store) for anything llama.cpp would
    refuse to load: not a GGUF, an unsupported version, a corrupt or truncated header,
    tensor data past the end of the file, no architecture, an unknown ``general.type``.
    """
    try:
        return _inspect(path)
    except GGUFError as error:
        if display_name is None:
            raise
        raise GGUFError(display_name, error.reason) from None


def _inspect(path: str | os.PathLike[str]) -> GGUFInfo:
    header, buf = read_header(path)
    fields = _Fields(header.metadata, path)
    kind = _kind(fields)
    arch = fields.get("general.architecture", str)
    if not arch:
        raise GGUFError(path, "general.architecture is missing; llama.cpp needs it to load")
    if not header.tensors:
        raise GGUFError(path, "has no tensors (a vocabulary-only GGUF is not a model)")
    _check_vocabulary(buf, header, path)
    adapter_type = fields.get("adapter.type", str)
    if kind == "adapter" and adapter_type not in ADAPTER_TYPES:
        raise GGUFError(path, f"adapter.type is {adapter_type!r}; only LoRA adapters load")
    bos_id = fields.get("tokenizer.ggml.bos_token_id", int)
    eos_id = fields.get("tokenizer.ggml.eos_token_id", int)
    block_count = fields.get(f"{arch}.block_count", int)
    if block_count is not None and block_count > len(header.tensors):
        raise GGUFError(
            path, f"{arch}.block_count is {block_count:,}, more layers than the file has tensors"
        )
    layer_bytes, other_bytes = _bytes_per_layer(header, block_count or 0)
    fim = _fim_tokens(buf, header, fields)
    parameter_count = sum(tensor.n_elements for tensor in header.tensors)
    return GGUFInfo(
        header_bytes=header.data_offset,
        header_digest=header_digest(path, header.data_offset),
        general_type=kind,
        architecture=arch,
        name=fields.get("general.name", str),
        size_label=fields.get("general.size_label", str),
        file_type=_file_type(fields.get("general.file_type", int), header),
        parameter_count=parameter_count,
        model_type=human_number(parameter_count),
        context_length=fields.get(f"{arch}.context_length", int),
        embedding_length=fields.get(f"{arch}.embedding_length", int),
        block_count=block_count,
        head_count=fields.largest(f"{arch}.attention.head_count"),
        head_count_kv=fields.largest(f"{arch}.attention.head_count_kv"),
        chat_template=fields.get("tokenizer.chat_template", str),
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        bos_token=_token(buf, header, bos_id),
        eos_token=_token(buf, header, eos_id),
        adds_bos=_adds_bos(fields),
        fim_tokens=fim,
        base_model=_with_prefix(header.metadata, "general.base_model."),
        adapter_type=adapter_type,
        lora_alpha=fields.get("adapter.lora.alpha", float),
        capabilities=_capabilities(kind, arch, header.metadata, fim is not None),
        version=header.version,
        size=header.file_size,
        tensor_count=len(header.tensors),
        layer_bytes=layer_bytes,
        other_bytes=other_bytes,
        metadata={
            key: value
            for key, value in _with_prefix(header.metadata, "").items()
            if key not in header.arrays or not key.startswith("tokenizer.ggml.")
        },
    )


def human_number(n: int) -> str:
    """``n`` as Ollama's ``format.HumanNumber`` writes a parameter count.

    Whole multiples lose their decimals; otherwise billions keep one decimal and
    millions two: 1,000,000 -> "1M", 134,515,008 -> "134.52M", 2,850,000,000 -> "2.9B",
    1,500 -> "2K" (thousands are rounded), 999 -> "999".
    """
    for unit, suffix, decimals in ((10**9, "B", 1), (10**6, "M", 2)):
        if n >= unit:
            value = n / unit
            return f"{value:.{0 if value.is_integer() else decimals}f}{suffix}"
    return f"{n / 1000:.0f}K" if n >= 1000 else str(n)


class _Fields:
    """Typed access to metadata values; a value of the wrong type is an error."""

    def __init__(self, metadata: Mapping[str, Value], path: str | os.PathLike[str]) -> None:
        self.metadata, self.path = metadata, path

    def get(self, key: str, kind: type[_T]) -> _T | None:
        value = self.metadata.get(key)
        if value is None:
            return None
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)  # type: ignore[return-value]
        if not isinstance(value, kind) or isinstance(value, bool):
            expected = {int: "an integer", float: "a number", str: "a string"}[kind]
            raise GGUFError(self.path, f"{key} should be {expected}, not {_show(value)}")
        return value

    def largest(self, key: str) -> int | None:
        """A count that may be given per layer (an array): its largest value."""
        value = self.metadata.get(key)
        if isinstance(value, tuple) and value and all(type(v) is int for v in value):
            return max(int(v) for v in value)
        return self.get(key, int)


def _kind(fields: _Fields) -> GGUFKind:
    kind = fields.get("general.type", str) or "model"
    if kind not in ("model", "adapter"):
        raise GGUFError(
            fields.path, f"general.type is {kind!r}; ladle builds from 'model' and 'adapter'"
        )
    return "model" if kind == "model" else "adapter"


def _file_type(code: int | None, header: GGUFHeader) -> str:
    """llama.cpp's name for ``general.file_type``, or a guess from the tensor types."""
    if code is None:
        return _guess_file_type(header)
    try:
        name = LlamaFileType(code).name
    except ValueError:
        return "unknown"
    if name == "ALL_F32":
        return "F32"
    return name.removeprefix("MOSTLY_") if name.startswith("MOSTLY_") else "unknown"


def _guess_file_type(header: GGUFHeader) -> str:
    """The type holding most weights in the matrices (norms and biases stay F32)."""
    weights: Counter[GGMLQuantizationType] = Counter()
    for tensor in header.tensors:
        if len(tensor.shape) >= 2 or not weights:
            weights[tensor.type] += tensor.n_elements
    name = weights.most_common(1)[0][0].name
    name = _GUESSED_K_FILE_TYPES.get(name, name)
    if name == "F32" or f"MOSTLY_{name}" in LlamaFileType.__members__:
        return name
    return "unknown"


def _token(buf: bytes, header: GGUFHeader, token_id: int | None) -> str | None:
    tokens = header.arrays.get("tokenizer.ggml.tokens")
    if token_id is None or tokens is None:
        return None
    return string_item(buf, tokens, token_id)


def _check_vocabulary(buf: bytes, header: GGUFHeader, path: str | os.PathLike[str]) -> None:
    """llama.cpp aborts the whole process (GGML_ASSERT) on a duplicate token. It names an
    empty token ``[EMPTY_<id>]`` first, so empty tokens repeat without harm."""
    tokens = header.arrays.get("tokenizer.ggml.tokens")
    if tokens is None or tokens.distinct is not False:  # the header walk found no repeat
        return
    seen: dict[bytes, int] = {}
    for token_id, token in enumerate(raw_strings(buf, tokens)):
        token = token or f"[EMPTY_{token_id}]".encode()
        first = seen.setdefault(token, token_id)
        if first != token_id:
            text = token.decode("utf-8", "replace")
            raise GGUFError(
                path, f"token {text!r} is in the vocabulary twice (ids {first:,} and {token_id:,})"
            )


def _capabilities(
    kind: GGUFKind, arch: str, metadata: Mapping[str, Value], fim: bool
) -> tuple[Capability, ...]:
    """Ollama's capabilities of the weights (an embedding model's ``pooling_type``, a
    vision encoder's ``vision.block_count``), and ``insert`` for a model that completes
    and has fill-in-the-middle tokens (beyond Ollama, which reads that from templates)."""
    if kind == "adapter":
        return ()
    embeds = f"{arch}.pooling_type" in metadata or arch in EMBEDDING_ARCHITECTURES
    capabilities: list[Capability] = ["embedding" if embeds else "completion"]
    if f"{arch}.vision.block_count" in metadata:
        capabilities.append("vision")
    if fim and not embeds:
        capabilities.append("insert")
    return tuple(capabilities)


def _adds_bos(fields: _Fields) -> bool:
    """llama.cpp's ``add_bos``: the tokenizer's own flag, else its default for the
    vocabulary (SentencePiece adds one); LFM2's is forced on (as Ollama reads it)."""
    if fields.get("tokenizer.ggml.pre", str) == "lfm2":
        return True
    flag = fields.metadata.get("tokenizer.ggml.add_bos_token")
    if isinstance(flag, bool):
        return flag
    return fields.get("tokenizer.ggml.model", str) == "llama"


def _fim_tokens(buf: bytes, header: GGUFHeader, fields: _Fields) -> tuple[str, str, str] | None:
    """The texts of the vocabulary's fill-in-the-middle tokens, by id or by text."""
    for keys in _FIM_KEYS:
        ids = [fields.get(f"tokenizer.ggml.{key}", int) for key in keys]
        texts = [_token(buf, header, token_id) for token_id in ids]
        if all(texts):
            return (texts[0] or "", texts[1] or "", texts[2] or "")
    tokens = header.arrays.get("tokenizer.ggml.tokens")
    # A cheap look for the texts first: the vocabulary is walked only when they occur.
    found = [texts for texts in _FIM_TEXTS if all(t.encode() in buf for t in texts)]
    if tokens is None or not found:
        return None
    vocabulary = set(raw_strings(buf, tokens))
    return next((t for t in found if all(x.encode() in vocabulary for x in t)), None)


def _bytes_per_layer(header: GGUFHeader, block_count: int) -> tuple[tuple[int, ...], int]:
    """Tensor bytes summed per ``blk.N.`` layer, and the bytes of all other tensors.

    ``block_count`` is at most the number of tensors (checked), and so is every layer
    counted here: a larger ``blk.N`` is no layer, and must not size a list.
    """
    limit = max(block_count, len(header.tensors))
    per_layer: Counter[int] = Counter()
    other = 0
    for tensor in header.tensors:
        match = _LAYER_TENSOR.match(tensor.name)
        if match and int(match[1]) < limit:
            per_layer[int(match[1])] += tensor.n_bytes
        else:
            other += tensor.n_bytes
    n_layers = max(block_count, max(per_layer, default=-1) + 1)
    return tuple(per_layer[i] for i in range(n_layers)), other


def _with_prefix(metadata: Mapping[str, Value], prefix: str) -> dict[str, MetadataValue]:
    """Metadata under ``prefix`` (which is dropped), without the undecoded long arrays."""
    return {
        key.removeprefix(prefix): value
        for key, value in metadata.items()
        if key.startswith(prefix) and not isinstance(value, GGUFArray)
    }


def _show(value: Value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
