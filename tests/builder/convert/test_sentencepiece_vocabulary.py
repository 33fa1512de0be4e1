"""A real SentencePiece vocabulary, round-tripped: Gemma 3's 262,144 pieces (read from
the bundled gemma3:270m GGUF) written as a ``tokenizer.model`` and a
``tokenizer_config.json`` (its user-defined tokens, as Gemma's has them), converted with a
tiny Gemma 3 beside them: the GGUF's tokens and types are the original's, and llama.cpp
splits varied text into the same ids with either vocabulary."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gguf
import llama_cpp
import pytest

from builder.convert.imported import import_checkpoint
from builder.store.store import Store
from tests.builder.convert.hf_export import write_safetensors
from tests.builder.convert.sentencepiece_writer import write_sentencepiece
from tests.builder.convert.test_round_trip import varied_strings
from tests.builder.convert.tiny_models import config_of, random_tensors
from tests.fixtures.installed import joined_bundled_model

USER_DEFINED = 4


@pytest.fixture(scope="module")
def gemma3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled gemma3:270m GGUF, its parts joined."""
    return joined_bundled_model("gemma3:270m", tmp_path_factory.mktemp("gemma3"))


def _vocabulary(path: Path) -> tuple[list[str], list[float], list[int]]:
    fields = gguf.GGUFReader(path).fields
    return (
        list(fields["tokenizer.ggml.tokens"].contents()),
        [float(score) for score in fields["tokenizer.ggml.scores"].contents()],
        list(fields["tokenizer.ggml.token_type"].contents()),
    )


@pytest.fixture(scope="module")
def converted(gemma3: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tokens, scores, types = _vocabulary(gemma3)
    folder = tmp_path_factory.mktemp("vocabulary") / "tiny-gemma3"
    folder.mkdir()
    config: dict[str, Any] = {**config_of("gemma3"), "vocab_size": len(tokens)}
    config |= {"bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0}
    write_safetensors(folder / "model.safetensors", random_tensors("gemma3", config).items())
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    write_sentencepiece(
        folder / "tokenizer.model", list(zip(tokens, scores, types, strict=True)), 2, False
    )
    added = {
        str(i): {"content": token, "special": False}
        for i, (token, kind) in enumerate(zip(tokens, types, strict=True))
        if kind == USER_DEFINED
    }
    settings = {"added_tokens_decoder": added, "add_bos_token": True, "add_eos_token": False}
    (folder / "tokenizer_config.json").write_text(json.dumps(settings), encoding="utf-8")
    return import_checkpoint(folder, Store(tmp_path_factory.mktemp("store"))).path


def test_tokens_and_types_are_the_originals(gemma3: Path, converted: Path) -> None:
    tokens, _, types = _vocabulary(gemma3)
    assert _vocabulary(converted)[0] == tokens
    assert _vocabulary(converted)[2] == types


@pytest.fixture(scope="module")
def vocabularies(gemma3: Path, converted: Path) -> Iterator[tuple[llama_cpp.Llama, ...]]:
    loaded = tuple(
        llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
        for path in (gemma3, converted)
    )
    yield loaded
    for model in loaded:
        model.close()


def test_varied_text_splits_into_the_same_ids(vocabularies: tuple[llama_cpp.Llama, ...]) -> None:
    original, converted = vocabularies
    for text in varied_strings(300):
        data = text.encode("utf-8")
        assert converted.tokenize(data, special=True) == original.tokenize(data, special=True)
