"""RENDERER and PARSER: names ladle knows are kept in the image config (and inherited,
as Ollama inherits them); any other name fails the build at its line and column,
listing the known ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.pipeline.build import build_file
from builder.store.image import Image
from builder.store.names import ModelName
from builder.store.store import Store
from builder.templates.parsers import PARSER_NAMES
from builder.templates.renderers import RENDERER_NAMES
from ladle.errors import ModelfileError


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


def test_an_unknown_renderer_fails_at_its_place_listing_the_known_ones(
    workdir: Path, store: Store
) -> None:
    with pytest.raises(ModelfileError) as failed:
        _build(workdir, store, "FROM ./tiny.gguf\n# prompt\nRENDERER   qwen9\n", "bad")
    assert (failed.value.line, failed.value.column) == (3, 12)
    assert failed.value.path == str(workdir / "bad.Modelfile")
    assert failed.value.reason.startswith("unknown RENDERER 'qwen9'; known renderers: ")
    assert all(name in failed.value.reason for name in RENDERER_NAMES)
    assert "RENDERER   qwen9\n" in str(failed.value) and "^" in str(failed.value)
    assert not list(store.images())  # nothing tagged
    assert not store.root.exists() or not any(store.root.joinpath("blobs").glob("*"))


def test_every_renderer_ollama_has_builds(workdir: Path, store: Store) -> None:
    image = _build(workdir, store, "FROM ./tiny.gguf\nRENDERER gemma4\nPARSER glm-4.7\n", "g")
    assert (image.config.renderer, image.config.parser) == ("gemma4", "glm-4.7")


def test_glimmer_builds_with_its_renderer(workdir: Path, store: Store) -> None:
    image = _build(workdir, store, "FROM ./tiny.gguf\nRENDERER glimmer\nPARSER glimmer\n", "g")
    assert (image.config.renderer, image.config.parser) == ("glimmer", "glimmer")


def test_an_unknown_parser_fails_listing_the_known_ones(workdir: Path, store: Store) -> None:
    with pytest.raises(ModelfileError) as failed:
        _build(workdir, store, "FROM ./tiny.gguf\nPARSER qwen9\n", "bad")
    assert (failed.value.line, failed.value.column) == (2, 8)
    assert "unknown PARSER 'qwen9'" in failed.value.reason
    assert all(name in failed.value.reason for name in PARSER_NAMES)


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
