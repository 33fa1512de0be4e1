"""RENDERER and PARSER: names ladle knows are kept in the image config (and inherited,
as Ollama inherits them); any other name fails the build, listing the known ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.pipeline.build import build_file
from builder.store.image import Image
from builder.store.names import ModelName
from builder.store.store import Store
from builder.templates.parsers import PARSER_NAMES
from builder.templates.renderers import RENDERER_NAMES
from ladle.errors import BuildInputError


def _build(folder: Path, store: Store, text: str, name: str) -> Image:
    path = folder / f"{name}.Modelfile"
    path.write_text(text, encoding="utf-8")
    build_file(path, name, store, lock="off")
    return Image.load(store, ModelName.parse(name))


def test_known_names_are_kept_and_inherited(workdir: Path, store: Store) -> None:
    base = _build(workdir, store, "FROM ./tiny.gguf\nRENDERER qwen3-coder\nPARSER qwen3\n", "b")
    assert (base.config.renderer, base.config.parser) == ("qwen3-coder", "qwen3")
    child = _build(workdir, store, "FROM b\nSYSTEM hi\n", "child")
    assert (child.config.renderer, child.config.parser) == ("qwen3-coder", "qwen3")
    other = _build(workdir, store, "FROM b\nRENDERER cogito\n", "other")
    assert (other.config.renderer, other.config.parser) == ("cogito", "qwen3")


def test_a_plain_gguf_gets_neither(workdir: Path, store: Store) -> None:
    image = _build(workdir, store, "FROM ./tiny.gguf\n", "plain")
    assert (image.config.renderer, image.config.parser) == (None, None)


def test_an_unknown_renderer_fails_listing_the_known_ones(workdir: Path, store: Store) -> None:
    with pytest.raises(BuildInputError) as failed:
        _build(workdir, store, "FROM ./tiny.gguf\nRENDERER qwen9\n", "bad")
    message = str(failed.value)
    assert message.startswith("unknown RENDERER 'qwen9'; known renderers: ")
    assert all(name in message for name in RENDERER_NAMES)
    assert not list(store.images())  # nothing tagged


def test_an_ollama_renderer_ladle_lacks_says_so(workdir: Path, store: Store) -> None:
    with pytest.raises(BuildInputError, match="Ollama's renderer 'gemma4' is not built into"):
        _build(workdir, store, "FROM ./tiny.gguf\nRENDERER gemma4\n", "bad")


def test_an_unknown_parser_fails_listing_the_known_ones(workdir: Path, store: Store) -> None:
    with pytest.raises(BuildInputError) as failed:
        _build(workdir, store, "FROM ./tiny.gguf\nPARSER qwen9\n", "bad")
    assert "unknown PARSER 'qwen9'" in str(failed.value)
    assert all(name in str(failed.value) for name in PARSER_NAMES)


def test_the_shown_modelfile_keeps_renderer_parser_and_requires(
    workdir: Path, store: Store
) -> None:
    text = "FROM ./tiny.gguf\nRENDERER qwen3-coder\nPARSER qwen3\nREQUIRES 0.12.0\n"
    image = _build(workdir, store, text, "b")
    shown = image.modelfile(by_name=True)
    assert "\nRENDERER qwen3-coder\nPARSER qwen3\nREQUIRES 0.12.0\n" in shown
    rebuilt = _build(workdir, store, shown, "again")
    assert (rebuilt.config.renderer, rebuilt.config.parser, rebuilt.config.requires) == (
        "qwen3-coder",
        "qwen3",
        "0.12.0",
    )
