"""The round trip on a real model: SmolLM2-135M, dequantized to F32 and written out as a
Hugging Face checkpoint (tests/builder/convert/hf_export.py), converted back by ladle.

The converted GGUF must hold the very tensors of the dequantized original (the Q/K
permutation undone and redone exactly), the same tokenizer (llama.cpp gives the same ids
for 1,000 varied strings), and generate the same 64 tokens greedily.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import gguf
import llama_cpp
import numpy as np
import pytest

from builder.convert.checkpoint import Checkpoint
from builder.convert.writer import plan_conversion, write_gguf
from tests.builder.convert.conftest import Export

FRAGMENTS = (
    "Hello, world!",
    "the quick brown fox",
    "jumps over",
    "THE LAZY DOG",
    "I'll",
    "don't",
    "we've",
    "'RE",
    "3.14159",
    "1234567890",
    "2024-05-01",
    "$1,000.50",
    "100%",
    "def f(x):\n    return x ** 2",
    "if (a && b) { c(); }",
    '<div class="x">',
    "a_b-c.d",
    "https://example.com/path?q=1&r=2",
    "user@example.com",
    "Привет, мир",
    "нещо на Български",
    "我想在apple工作",
    "東京タワー",
    "مرحبا بالعالم",
    "🚀🦙✅",
    "😶\u200d🌫️",
    "café naïve façade",
    "\t\ttabs",
    "  two spaces",
    "\n\nnew lines\n",
    "......!!!!??",
    "```code```",
    '"quoted"',
    "<|im_start|>",
    "<|im_end|>",
    "SmolLM2",
    "tokenization",
    "antidisestablishmentarianism",
)


def varied_strings(count: int, seed: int = 0) -> list[str]:
    """``count`` strings made of 1 to 6 fragments, joined by varied whitespace."""
    rng = random.Random(seed)
    joins = (" ", "", "\n", "  ", "\t", ", ")
    return [
        "".join(rng.choice(joins) + rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 6)))
        for _ in range(count)
    ]


@pytest.fixture(scope="module")
def converted(smollm2_export: Export, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("converted") / "model.gguf"
    write_gguf(plan_conversion(Checkpoint(smollm2_export.folder)), target, "smollm2-hf")
    return target


def test_tensors_match_the_dequantized_original(converted: Path, smollm2_export: Export) -> None:
    original = {t.name: t for t in gguf.GGUFReader(smollm2_export.reference).tensors}
    found = {t.name: t for t in gguf.GGUFReader(converted).tensors}
    assert sorted(found) == sorted(original)
    for name, tensor in found.items():
        assert tensor.tensor_type == gguf.GGMLQuantizationType.F32, name
        assert np.array_equal(np.asarray(tensor.data), np.asarray(original[name].data)), name


def test_metadata_matches_the_original(converted: Path, smollm2_export: Export) -> None:
    original = gguf.GGUFReader(smollm2_export.reference).fields
    found = gguf.GGUFReader(converted).fields
    model_card = {"general.name", "general.organization", "general.finetune"}
    model_card |= {"general.basename", "general.license", "general.languages"}
    for key, value in original.items():
        if key.startswith("GGUF.") or key in model_card:
            continue
        assert found[key].contents() == value.contents(), key
    assert found["tokenizer.ggml.pre"].contents() == "smollm"
    assert found["general.name"].contents() == "smollm2-hf"


def test_a_sharded_checkpoint_converts_to_the_same_bytes(
    converted: Path, smollm2_export: Export, tmp_path: Path
) -> None:
    target = tmp_path / "sharded.gguf"
    write_gguf(plan_conversion(Checkpoint(smollm2_export.sharded)), target, "smollm2-hf")
    assert len(list(smollm2_export.sharded.glob("model-*-of-00003.safetensors"))) == 3
    assert target.read_bytes() == converted.read_bytes()


@pytest.fixture(scope="module")
def models(converted: Path, smollm2_export: Export) -> Iterator[tuple[llama_cpp.Llama, ...]]:
    loaded = tuple(
        llama_cpp.Llama(str(path), n_ctx=256, n_threads=1, seed=0, verbose=False)
        for path in (smollm2_export.reference, converted)
    )
    yield loaded
    for model in loaded:
        model.close()


def test_token_ids_of_varied_strings_match(models: tuple[llama_cpp.Llama, ...]) -> None:
    original, converted = models
    for text in varied_strings(1000):
        for special in (False, True):
            data = text.encode("utf-8")
            assert converted.tokenize(data, add_bos=False, special=special) == original.tokenize(
                data, add_bos=False, special=special
            ), text


def test_greedy_generation_matches(models: tuple[llama_cpp.Llama, ...]) -> None:
    prompt = (
        "<|im_start|>user\nWrite a short story about a robot learning to paint.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    answers = [
        model.create_completion(prompt, max_tokens=64, temperature=0.0, top_k=1, seed=0)
        for model in models
    ]
    texts = [answer["choices"][0]["text"] for answer in answers]  # type: ignore[index]
    counts = [answer["usage"]["completion_tokens"] for answer in answers]  # type: ignore[index]
    assert counts[0] == 64
    assert texts[1] == texts[0] and counts[1] == counts[0]
