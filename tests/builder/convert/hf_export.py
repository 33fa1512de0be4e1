"""Writing a GGUF llama model out as a Hugging Face checkpoint folder, for the tests.

The inverse of ladle's converter, written independently of it: the GGUF's tensors
dequantized to F32 (gguf-py), renamed to transformers' names, the Q and K rows put back
in transformers' rotary layout; ``config.json`` from the GGUF's hyperparameters; a
byte-level BPE ``tokenizer.json`` from its vocabulary and merges (with SmolLM's
pre-tokenizer: single digits, then GPT-2's byte-level split); ``tokenizer_config.json``
with its special tokens and chat template. :func:`write_safetensors` writes the format
by hand, so that the reader under test is checked against bytes it did not write.

Also :func:`write_f32_copy`: the same GGUF with every tensor dequantized to F32, the
reference the converted model must match.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import numpy.typing as npt

HF_NAMES = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
GLOBAL_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
SAFETENSORS_TYPES = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16"}


def write_safetensors(path: Path, tensors: Iterable[tuple[str, npt.NDArray[Any]]]) -> None:
    """A safetensors file holding ``tensors`` (F32 or F16), written tensor by tensor."""
    items = list(tensors)
    header: dict[str, Any] = {}
    offset = 0
    for name, data in items:
        header[name] = {
            "dtype": SAFETENSORS_TYPES[data.dtype],
            "shape": list(data.shape),
            "data_offsets": [offset, offset + data.nbytes],
        }
        offset += data.nbytes
    raw = json.dumps(header).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # the data starts 8-byte aligned, as the format asks
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(raw)) + raw)
        for _, data in items:
            handle.write(np.ascontiguousarray(data).tobytes())


def hf_name(name: str) -> str:
    """transformers' name of the GGUF tensor ``name``."""
    if name in GLOBAL_NAMES:
        return GLOBAL_NAMES[name]
    _, block, base, suffix = name.split(".")
    return f"model.layers.{block}.{HF_NAMES[base]}.{suffix}"


def unpermute(data: npt.NDArray[Any], heads: int) -> npt.NDArray[Any]:
    """llama.cpp's interleaved rotary rows back to transformers' halves, per head."""
    rows = data.shape[0]
    split = data.reshape(heads, rows // heads // 2, 2, *data.shape[1:])
    return np.ascontiguousarray(split.swapaxes(1, 2).reshape(data.shape))


def dequantized(reader: gguf.GGUFReader) -> Iterable[tuple[str, npt.NDArray[np.float32]]]:
    """Every tensor of ``reader`` as F32, in numpy (row-major) order, one at a time."""
    for tensor in reader.tensors:
        data = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
        yield tensor.name, np.asarray(data, dtype=np.float32)


def field(reader: gguf.GGUFReader, key: str) -> Any:
    return reader.fields[key].contents()


def write_f32_copy(source: Path, target: Path) -> None:
    """``source`` with every tensor dequantized to F32 and the same metadata."""
    reader = gguf.GGUFReader(source)
    writer = gguf.GGUFWriter(target, field(reader, "general.architecture"))
    for key, value in reader.fields.items():
        if key.startswith("GGUF.") or key in ("general.architecture", "general.file_type"):
            continue
        if key == "general.quantization_version":
            continue
        sub = value.types[-1] if value.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, value.contents(), value.types[0], sub_type=sub)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    for name, data in dequantized(reader):
        writer.add_tensor(name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_hf_folder(source: Path, folder: Path, shards: int = 1) -> None:
    """``source`` (a llama GGUF) as a Hugging Face checkpoint in ``folder``; with
    ``shards`` > 1, split into that many safetensors files with an index."""
    reader = gguf.GGUFReader(source)
    folder.mkdir(parents=True, exist_ok=True)
    heads = int(field(reader, "llama.attention.head_count"))
    kv_heads = int(field(reader, "llama.attention.head_count_kv"))
    tensors = []
    for name, data in dequantized(reader):
        if ".attn_q." in name:
            data = unpermute(data, heads)
        elif ".attn_k." in name:
            data = unpermute(data, kv_heads)
        tensors.append((hf_name(name), data))
    _write_shards(folder, tensors, shards)
    names = {name for name, _ in tensors}
    _write_json(folder / "config.json", _config(reader, "lm_head.weight" not in names))
    _write_json(folder / "tokenizer.json", _tokenizer(reader))
    _write_json(folder / "tokenizer_config.json", _tokenizer_config(reader))


def write_tokenizer(source: Path, folder: Path) -> None:
    """``source``'s vocabulary as ``tokenizer.json`` and ``tokenizer_config.json``."""
    reader = gguf.GGUFReader(source)
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / "tokenizer.json", _tokenizer(reader))
    _write_json(folder / "tokenizer_config.json", _tokenizer_config(reader))


def _write_shards(folder: Path, tensors: list[tuple[str, npt.NDArray[Any]]], shards: int) -> None:
    if shards == 1:
        write_safetensors(folder / "model.safetensors", tensors)
        return
    weight_map: dict[str, str] = {}
    for index in range(shards):
        part = tensors[index::shards]
        file = f"model-{index + 1:05d}-of-{shards:05d}.safetensors"
        write_safetensors(folder / file, part)
        weight_map |= {name: file for name, _ in part}
    _write_json(folder / "model.safetensors.index.json", {"metadata": {}, "weight_map": weight_map})


def _config(reader: gguf.GGUFReader, tied: bool) -> dict[str, Any]:
    def number(key: str) -> Any:
        return field(reader, f"llama.{key}")

    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": number("embedding_length"),
        "intermediate_size": number("feed_forward_length"),
        "num_hidden_layers": number("block_count"),
        "num_attention_heads": number("attention.head_count"),
        "num_key_value_heads": number("attention.head_count_kv"),
        "max_position_embeddings": number("context_length"),
        "rms_norm_eps": number("attention.layer_norm_rms_epsilon"),
        "rope_theta": number("rope.freq_base"),
        "vocab_size": number("vocab_size"),
        "tie_word_embeddings": tied,
        "bos_token_id": field(reader, "tokenizer.ggml.bos_token_id"),
        "eos_token_id": field(reader, "tokenizer.ggml.eos_token_id"),
        "torch_dtype": "float32",
    }


def _tokenizer(reader: gguf.GGUFReader) -> dict[str, Any]:
    tokens = field(reader, "tokenizer.ggml.tokens")
    types = field(reader, "tokenizer.ggml.token_type")
    byte_level = {"add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": i,
                "content": token,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
            for i, (token, kind) in enumerate(zip(tokens, types, strict=True))
            if kind == gguf.TokenType.CONTROL
        ],
        "normalizer": None,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Digits", "individual_digits": True},
                {"type": "ByteLevel", **byte_level},
            ],
        },
        "post_processor": {"type": "ByteLevel", **byte_level},
        "decoder": {"type": "ByteLevel", **byte_level},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": {token: i for i, token in enumerate(tokens)},
            "merges": list(field(reader, "tokenizer.ggml.merges")),
        },
    }


def _tokenizer_config(reader: gguf.GGUFReader) -> dict[str, Any]:
    tokens = field(reader, "tokenizer.ggml.tokens")

    def token(kind: str) -> str:
        return str(tokens[field(reader, f"tokenizer.ggml.{kind}_token_id")])

    return {
        "add_prefix_space": bool(field(reader, "tokenizer.ggml.add_space_prefix")),
        "add_bos_token": bool(field(reader, "tokenizer.ggml.add_bos_token")),
        "bos_token": token("bos"),
        "eos_token": token("eos"),
        "unk_token": token("unknown"),
        "pad_token": token("padding"),
        "chat_template": field(reader, "tokenizer.chat_template"),
        "tokenizer_class": "GPT2Tokenizer",
    }


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=1), encoding="utf-8")
