"""A draft's vocabulary against its model's: tokens, token types, special tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest

from builder.gguf.header import read_header
from builder.gguf.vocabulary import vocabulary_difference
from tests.fixtures.tiny_gguf import tiny_vocab, write_tiny_llama

NORMAL, CONTROL = int(gguf.TokenType.NORMAL), int(gguf.TokenType.CONTROL)


def write_vocabulary(path: Path, tokens: list[str], types: list[int], **ids: Any) -> Path:
    """A one-tensor llama GGUF whose header holds this vocabulary and these special
    token settings (``bos``, ``eos``, ``add_bos``…, as gguf's writer names them)."""
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    settings = {"bos": 1, "eos": 2, "add_bos": True} | ids
    writer.add_bos_token_id(settings["bos"])
    writer.add_eos_token_id(settings["eos"])
    writer.add_add_bos_token(settings["add_bos"])
    writer.add_tensor("output_norm.weight", np.ones(4, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def difference(model: Path, draft: Path) -> str | None:
    return vocabulary_difference(read_header(model), read_header(draft))


TOKENS = ["<unk>", "<s>", "</s>", "a", "b", "c"]
TYPES = [2, CONTROL, CONTROL, NORMAL, NORMAL, NORMAL]


def test_the_same_vocabulary_with_other_weights_matches(tmp_path: Path) -> None:
    model = write_tiny_llama(tmp_path / "model.gguf")
    draft = write_tiny_llama(tmp_path / "draft.gguf", seed=5, n_layer=1, file_type="Q8_0")
    assert difference(model, draft) is None


def test_the_first_differing_token_is_named_with_both_texts(tmp_path: Path) -> None:
    model = write_vocabulary(tmp_path / "m.gguf", TOKENS, TYPES)
    draft = write_vocabulary(tmp_path / "d.gguf", [*TOKENS[:4], "B", "C"], TYPES)
    assert difference(model, draft) == "token 4 is 'B' in the draft but 'b' in the model"


def test_a_shorter_vocabulary_names_the_first_missing_token(tmp_path: Path) -> None:
    model = write_vocabulary(tmp_path / "m.gguf", TOKENS, TYPES)
    draft = write_vocabulary(tmp_path / "d.gguf", TOKENS[:5], TYPES[:5])
    assert difference(model, draft) == (
        "token 5 is missing (it has 5 tokens) in the draft but 'c' in the model"
    )


def test_a_differing_token_type_is_named(tmp_path: Path) -> None:
    model = write_vocabulary(tmp_path / "m.gguf", TOKENS, TYPES)
    draft = write_vocabulary(tmp_path / "d.gguf", TOKENS, [*TYPES[:3], CONTROL, *TYPES[4:]])
    assert difference(model, draft) == (
        f"token 3 ('a') has type {CONTROL} in the draft but {NORMAL} in the model"
    )


@pytest.mark.parametrize(
    ("ids", "says"),
    [
        ({"eos": 5}, "tokenizer.ggml.eos_token_id is 5 in the draft but 2 in the model"),
        ({"bos": 0}, "tokenizer.ggml.bos_token_id is 0 in the draft but 1 in the model"),
        ({"add_bos": False}, "tokenizer.ggml.add_bos_token is False in the draft but True"),
    ],
)
def test_differing_special_tokens_are_named(tmp_path: Path, ids: dict[str, Any], says: str) -> None:
    model = write_vocabulary(tmp_path / "m.gguf", TOKENS, TYPES)
    draft = write_vocabulary(tmp_path / "d.gguf", TOKENS, TYPES, **ids)
    found = difference(model, draft)
    assert found is not None and found.startswith(says)


def test_long_vocabularies_are_compared_past_the_inline_arrays(tmp_path: Path) -> None:
    """Vocabularies longer than the header keeps decoded (1,024 items) are read from
    where they lie."""
    tokens, _, types = tiny_vocab(3000)
    model = write_vocabulary(tmp_path / "m.gguf", tokens, types)
    changed = [*tokens[:2500], "\u2581zz", *tokens[2501:]]
    draft = write_vocabulary(tmp_path / "d.gguf", changed, types)
    assert difference(model, draft) == (
        f"token 2,500 is '\u2581zz' in the draft but {tokens[2500]!r} in the model"
    )
    retyped = write_vocabulary(tmp_path / "t.gguf", tokens, [*types[:2999], CONTROL])
    assert difference(model, retyped) is not None
    assert difference(model, write_vocabulary(tmp_path / "s.gguf", tokens, types)) is None
