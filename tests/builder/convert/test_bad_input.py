"""Checkpoints that cannot be converted: each is a clear error naming the file at fault,
raised by ``ladle create`` before anything is written to the store."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from builder.pipeline.build import build_file
from builder.store.store import Store
from ladle.errors import BuildInputError
from tests.builder.convert.sentencepiece_writer import PIECES, write_sentencepiece
from tests.builder.convert.tiny_checkpoint import write_tiny_checkpoint

Damage = Callable[[Path], None]


def _build(folder: Path, store: Store) -> None:
    modelfile = folder.parent / "Modelfile"
    modelfile.write_text(f"FROM ./{folder.name}\n", encoding="utf-8")
    build_file(modelfile, "imported", store)


def _missing_config(folder: Path) -> None:
    (folder / "config.json").unlink()


def _unknown_architecture(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(
        json.dumps({**config, "architectures": ["MambaForCausalLM"]})
    )


def _missing_shard(folder: Path) -> None:
    index = {"weight_map": {"model.embed_tokens.weight": "model-00002-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))


def _wrong_shape(folder: Path) -> None:
    write_tiny_checkpoint(folder, shapes={"model.layers.1.self_attn.k_proj.weight": (16, 16)})


def _truncated_header(folder: Path) -> None:
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[:100])


def _header_of_a_petabyte(folder: Path) -> None:
    path = folder / "model.safetensors"
    path.write_bytes(struct.pack("<Q", 10**15) + path.read_bytes()[8:])


def _pickled_weights(folder: Path) -> None:
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(bytes.fromhex("504B0304") + bytes(60))


def _missing_tensor(folder: Path) -> None:
    write_tiny_checkpoint(
        folder, shapes={"lm_head.weight": (8, 16)}, config={"num_hidden_layers": 3}
    )
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 4}))


def _unknown_tokenizer(folder: Path) -> None:
    pass  # the stand-in tokenizer is no pre-tokenizer llama.cpp knows


def _broken_tokenizer(folder: Path) -> None:
    (folder / "tokenizer.json").write_text('{"model": {"type": "BPE", "vocab": ')


def _damaged_sentencepiece(folder: Path) -> None:
    (folder / "tokenizer.json").unlink()
    (folder / "tokenizer.model").write_bytes(b"\n\x0e\n\x05<unk>")  # a piece cut short


def _unigram_sentencepiece(folder: Path) -> None:
    (folder / "tokenizer.json").unlink()
    write_sentencepiece(folder / "tokenizer.model", PIECES[:8], model_type=1)


def _peft_adapter_as_from(folder: Path) -> None:
    (folder / "adapter_config.json").write_text('{"peft_type": "LORA"}')


def _byte_fallback_without_model(folder: Path) -> None:
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    tokenizer["model"]["byte_fallback"] = True
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))


CASES: list[tuple[Damage, str, str]] = [
    (_missing_config, "config.json", "is missing"),
    (
        _unknown_architecture,
        "config.json",
        "'MambaForCausalLM' cannot be converted; ladle converts "
        "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, "
        "Gemma2ForCausalLM, Gemma3ForCausalLM, Phi3ForCausalLM",
    ),
    (_missing_shard, "model.safetensors.index.json", "lists the shard model-00002-of-00002"),
    (
        _wrong_shape,
        "model.safetensors",
        "'model.layers.1.self_attn.k_proj.weight' has shape "
        "[16, 16], but config.json makes it [8, 16]",
    ),
    (_truncated_header, "model.safetensors", "truncated"),
    (_header_of_a_petabyte, "model.safetensors", "claims 1000000000000000 bytes"),
    (_pickled_weights, "", "PyTorch pickles (pytorch_model.bin)"),
    (_missing_tensor, "", "tensor(s) the config needs are in no shard, first blk.3."),
    (_unknown_tokenizer, "tokenizer.json", "not one llama.cpp knows"),
    (_broken_tokenizer, "tokenizer.json", "is not valid JSON"),
    (_peft_adapter_as_from, "", "is a PEFT adapter (adapter_config.json): name it in ADAPTER"),
    (_damaged_sentencepiece, "tokenizer.model", "is not a SentencePiece model"),
    (_unigram_sentencepiece, "tokenizer.model", "a SentencePiece unigram model"),
    (
        _byte_fallback_without_model,
        "tokenizer.json",
        "or a SentencePiece tokenizer.model (missing)",
    ),
]


@pytest.mark.parametrize(("damage", "file", "reason"), CASES, ids=[c[0].__name__ for c in CASES])
def test_bad_checkpoint_is_refused_naming_the_file(
    tmp_path: Path, store: Store, damage: Damage, file: str, reason: str
) -> None:
    folder = write_tiny_checkpoint(tmp_path / "project" / "my-finetune")
    damage(folder)
    with pytest.raises(BuildInputError) as caught:
        _build(folder, store)
    message = str(caught.value)
    assert str(folder / file) in message
    assert reason in message
    assert store.blob_digests() == set()
    assert list(store.images()) == []
