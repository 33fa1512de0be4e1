"""Each architecture ladle converts, checked against a numpy forward pass: a tiny random
checkpoint is converted, llama.cpp (llama-cpp-python) computes its logits, and they must
match :mod:`.reference`'s on the checkpoint's own weights.

A wrong RoPE layout, a transposed or mis-split matrix, a norm without Gemma's ``+1``, a
wrong attention scale, window or soft-cap shows as a large difference; llama.cpp computes
in float32 with a float32 KV cache here, so the tolerance is float32's (Gemma's GELU
aside).
"""

from __future__ import annotations

from pathlib import Path

import llama_cpp
import numpy as np
import numpy.typing as npt
import pytest

from builder.convert.imported import import_checkpoint
from builder.gguf.file import inspect_gguf
from builder.store.store import Store
from tests.builder.convert import reference
from tests.builder.convert.sentencepiece_writer import piece_id
from tests.builder.convert.tiny_models import CONFIGS, write_tiny_model

IDS = [1, 262, 3, 100, 263, 40, 200, 150, 264, 42, 7, 261]
"""Twelve tokens: longer than Gemma's window of 4, so the sliding layers are tested."""

GGML_F32 = 0
"""``ggml_type`` of a float32 KV cache (llama.cpp's default is F16)."""


def llama_cpp_logits(path: Path, ids: list[int]) -> npt.NDArray[np.float32]:
    """llama.cpp's logits for ``ids``, every position."""
    model = llama_cpp.Llama(
        model_path=str(path),
        n_ctx=64,
        n_batch=64,
        n_threads=2,
        logits_all=True,
        type_k=GGML_F32,
        type_v=GGML_F32,
        verbose=False,
    )
    try:
        model.eval(ids)
        return np.array(model.scores[: len(ids)], dtype=np.float32)
    finally:
        model.close()


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_converted_logits_match_the_reference(kind: str, tmp_path: Path, store: Store) -> None:
    config, weights = write_tiny_model(tmp_path / f"tiny-{kind}", kind)
    converted = import_checkpoint(tmp_path / f"tiny-{kind}", store)
    assert inspect_gguf(converted.path).architecture == kind
    expected = reference.forward(kind, config, weights, IDS)
    actual = llama_cpp_logits(converted.path, IDS)
    assert actual.shape == expected.shape
    assert np.abs(expected).max() > 1.0  # logits large enough for a difference to show
    # Measured: 1-2e-6 apart, Gemma's 1.1e-3 (llama.cpp's CPU GELU reads a float16 table)
    tolerance = 4e-3 if kind.startswith("gemma") else 2e-5
    np.testing.assert_allclose(actual, expected, rtol=0, atol=tolerance)


def test_the_reference_tells_a_wrong_conversion(tmp_path: Path) -> None:
    """The comparison can fail: Gemma's weights read without its ``1 + weight`` norms
    give logits far from the reference's."""
    config, weights = write_tiny_model(tmp_path / "tiny", "gemma3")
    shifted = {k: v + 1 if k.endswith("norm.weight") else v for k, v in weights.items()}
    right = reference.forward("gemma3", config, weights, IDS)
    wrong = reference.forward("gemma3", config, shifted, IDS)
    assert np.abs(right - wrong).max() > 0.1


def test_a_sentencepiece_vocabulary_tokenizes_as_sentencepiece(
    tmp_path: Path, store: Store
) -> None:
    """``tokenizer.model`` becomes llama.cpp's ``llama`` tokenizer: pieces merged by
    score, a space prefix, bytes for what no piece covers."""
    write_tiny_model(tmp_path / "tiny", "llama")
    converted = import_checkpoint(tmp_path / "tiny", store)
    model = llama_cpp.Llama(model_path=str(converted.path), vocab_only=True, verbose=False)
    try:
        ids = model.tokenize(b"ab az", add_bos=False)
        assert ids == [piece_id("▁ab"), piece_id("▁a"), piece_id("<0x7A>")]
        assert model.detokenize(ids) == b" ab az"
        assert model.token_bos() == 1 and model.token_eos() == 2
    finally:
        model.close()
