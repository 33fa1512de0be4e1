"""Every example Modelfile parses, validates without a diagnostic and is canonical;
its typed spec is pinned by a snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

import modelfile
from tests.conftest import EXAMPLES

FILES = sorted(EXAMPLES.glob("*/Modelfile"))


@pytest.mark.parametrize("path", FILES, ids=[path.parent.name for path in FILES])
def test_example(path: Path, snapshot: SnapshotAssertion) -> None:
    parsed = modelfile.parse_file(path)
    assert modelfile.check(parsed) == []
    assert modelfile.format(parsed) == path.read_text(encoding="utf-8")
    assert parsed.validate().to_create_request() == snapshot
