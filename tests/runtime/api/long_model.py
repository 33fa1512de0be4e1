"""A model whose answers last: the tiny model's weights with a context of 65,536 tokens.

The tiny model is trained for 256 tokens, and a runner never gets more context than the
model was trained for, so its longest answer (ten contexts) takes about a second on a
quiet machine. Tests that need a generation still running seconds later (a request
holding the one sequence, a stream cut by shutdown, a runner stopped mid-answer) use
this one: ten contexts of 65,536 tokens take minutes.
"""

from __future__ import annotations

from pathlib import Path

from builder.store.store import Store
from tests.fixtures.tiny_gguf import write_tiny_llama

from .conftest import build

CONTEXT = 65_536
MODELFILE = f"FROM {{path}}\nPARAMETER num_ctx {CONTEXT}\nPARAMETER temperature 0\n"
ENDLESS = {"num_predict": 1_000_000, "ignore_eos": True}
"""Options for an answer that outlasts any test (uncancelled, minutes)."""


def build_long(models: Path, name: str = "long") -> str:
    """Build the long model into the store at ``models`` as ``name``; returns ``name``."""
    folder = models.parent / "long-src"
    folder.mkdir(parents=True, exist_ok=True)
    weights = write_tiny_llama(folder / "long.gguf", n_ctx=CONTEXT, name="long")
    build(Store(models), folder, name, MODELFILE.format(path=weights))
    return name
