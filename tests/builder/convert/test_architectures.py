"""The keys each architecture's GGUF carries, and the configs llama.cpp would compute
differently, refused naming config.json rather than converted into a model that
generates something else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gguf
import pytest

from builder.convert.imported import import_checkpoint
from builder.store.store import Store
from ladle.errors import BuildInputError
from tests.builder.convert.tiny_models import write_tiny_model


def _fields(path: Path) -> dict[str, Any]:
    return {key: field.contents() for key, field in gguf.GGUFReader(path).fields.items()}


def test_gemma3_says_which_layers_slide_and_their_rope_base(tmp_path: Path, store: Store) -> None:
    write_tiny_model(tmp_path / "tiny", "gemma3")
    fields = _fields(import_checkpoint(tmp_path / "tiny", store).path)
    assert fields["gemma3.attention.sliding_window_pattern"] == [True, False]
    assert fields["gemma3.attention.sliding_window"] == 4
    assert fields["gemma3.rope.freq_base"] == 1_000_000.0
    assert fields["gemma3.rope.freq_base_swa"] == 10000.0
    assert fields["tokenizer.ggml.model"] == "llama"
    assert fields["tokenizer.ggml.add_space_prefix"] is False


def test_gemma2_and_phi3_keys(tmp_path: Path, store: Store) -> None:
    write_tiny_model(tmp_path / "g2", "gemma2")
    gemma2 = _fields(import_checkpoint(tmp_path / "g2", store).path)
    assert gemma2["gemma2.attn_logit_softcapping"] == 50.0
    assert gemma2["gemma2.final_logit_softcapping"] == 30.0
    assert gemma2["gemma2.attention.sliding_window_pattern"] == [True, False]
    write_tiny_model(tmp_path / "p3", "phi3")
    phi3 = _fields(import_checkpoint(tmp_path / "p3", store).path)
    assert phi3["phi3.rope.dimension_count"] == 16
    assert phi3["phi3.attention.sliding_window"] == 0


def _with(folder: Path, kind: str, **changes: Any) -> Path:
    write_tiny_model(folder, kind)
    config = json.loads((folder / "config.json").read_text()) | changes
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize(
    ("kind", "changes", "reason"),
    [
        ("gemma3", {"query_pre_attn_scalar": 64}, "llama.cpp scales this model's attention by"),
        ("gemma3", {"attn_logit_softcapping": 50.0}, "llama.cpp's gemma3 has no attention"),
        ("gemma3", {"layer_types": ["full_attention"]}, "'layer_types' must list 2 of"),
        ("gemma2", {"attn_logit_softcapping": None}, "llama.cpp's gemma2 caps"),
        ("gemma2", {"tie_word_embeddings": False}, "always ties the output"),
        ("gemma2", {"final_logit_softcapping": None}, "llama.cpp's gemma2 caps"),
        ("qwen2", {"use_sliding_window": True}, "llama.cpp's Qwen attends to the whole"),
        ("phi3", {"rope_scaling": {"type": "longrope"}}, "rope_scaling type 'longrope'"),
        ("llama", {"architectures": ["Gemma3ForConditionalGeneration"]}, "cannot be converted"),
    ],
)
def test_configs_llama_cpp_would_misread_are_refused(
    tmp_path: Path, store: Store, kind: str, changes: dict[str, Any], reason: str
) -> None:
    folder = _with(tmp_path / "tiny", kind, **changes)
    with pytest.raises(BuildInputError) as caught:
        import_checkpoint(folder, store)
    assert str(folder / "config.json") in str(caught.value)
    assert reason in str(caught.value)
    assert store.blob_digests() == set()


def test_a_name_llama_cpp_reads_as_phi3_needs_phi3s_tokens(tmp_path: Path, store: Store) -> None:
    write_tiny_model(tmp_path / "my-phi3-tune", "llama")
    with pytest.raises(BuildInputError, match=r"looks up <\|endoftext\|>, which its vocab"):
        import_checkpoint(tmp_path / "my-phi3-tune", store)
    assert store.blob_digests() == set()
    write_tiny_model(tmp_path / "my-phi3-tune-2", "phi3")  # has <|endoftext|>: loads
    import_checkpoint(tmp_path / "my-phi3-tune-2", store)
