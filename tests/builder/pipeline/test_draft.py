"""DRAFT: a draft model for speculative decoding, built as a layer of the image."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.pipeline import lockfile
from builder.pipeline.build import LockMode, build_file
from builder.pipeline.lockfile import BaseLock, DraftLock, QuantizeLock
from builder.pipeline.options import BuildOptions
from builder.store import media_types
from builder.store.diff import diff_images
from builder.store.image import Image
from builder.store.manifest import digest_of
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.errors import BuildError, BuildInputError, QuantizeRefusedError
from tests.fixtures.installed import require_bundled_model
from tests.fixtures.tiny_gguf import write_tiny_llama

DRAFTED = "FROM ./tiny.gguf\nSYSTEM You are terse.\nDRAFT ./draft.gguf\n"


@pytest.fixture
def drafts(workdir: Path) -> Path:
    """``workdir`` with ``draft.gguf`` (tiny's vocabulary, other weights and depth) and
    ``other.gguf`` (three tokens of tiny's vocabulary replaced)."""
    write_tiny_llama(workdir / "draft.gguf", seed=9, n_layer=1, name="draft")
    write_tiny_llama(workdir / "other.gguf", fim="text", name="other")
    return workdir


def _create(
    folder: Path,
    store: Store,
    text: str,
    name: str = "bot",
    lock: LockMode = "write",
    options: BuildOptions | None = None,
) -> Image:
    path = folder / f"{name}.Modelfile"
    path.write_text(text, encoding="utf-8")
    build_file(path, name, store, lock=lock, options=options)
    return Image.load(store, ModelName.parse(name))


def _draft_digests(image: Image) -> list[str]:
    return [layer.digest for layer in image.stored.manifest.layers_of(media_types.DRAFT)]


def test_a_draft_file_becomes_the_draft_layer(drafts: Path, store: Store) -> None:
    image = _create(drafts, store, DRAFTED)
    draft = drafts / "draft.gguf"
    assert _draft_digests(image) == [digest_of(draft.read_bytes())]
    assert image.draft is not None and image.draft.read_bytes() == draft.read_bytes()
    assert image.draft_architecture == "llama"
    config = image.config.model_extra or {}
    assert config["draft"] == {"model_format": "gguf", "architecture": "llama"}  # Ollama's
    assert f"\nDRAFT {image.draft}\n" in image.modelfile()
    assert f"#   DRAFT {image.draft.name}" in image.modelfile(by_name=True)


def test_a_draft_of_another_vocabulary_is_an_error_at_the_draft_line(
    drafts: Path, store: Store
) -> None:
    text = "FROM ./tiny.gguf\nSYSTEM hi\n\n  DRAFT ./other.gguf\n"
    with pytest.raises(BuildInputError) as caught:
        _create(drafts, store, text)
    where = f"{drafts / 'bot.Modelfile'}:4:3"
    assert str(caught.value) == (
        f"{where}: DRAFT ./other.gguf: the draft's vocabulary is not the model's: "
        "token 381 is '<|fim_prefix|>' in the draft but '\u2581w50' in the model"
    )
    assert list(store.images()) == []


def test_an_adapter_is_not_a_draft(drafts: Path, store: Store) -> None:
    with pytest.raises(BuildInputError, match=r"DRAFT \./tiny-lora\.gguf: this GGUF is an adapter"):
        _create(drafts, store, "FROM ./tiny.gguf\nDRAFT ./tiny-lora.gguf\n")


def test_a_draft_that_names_nothing_says_what_was_tried(drafts: Path, store: Store) -> None:
    with pytest.raises(BuildError, match="no-such-draft: no image of that name"):
        _create(drafts, store, "FROM ./tiny.gguf\nDRAFT no-such-draft\n")


def test_an_image_keeps_its_base_images_draft_unless_draft_replaces_it(
    drafts: Path, store: Store
) -> None:
    base = _create(drafts, store, DRAFTED, "base")
    child = _create(drafts, store, "FROM base\nSYSTEM child\n", "child")
    assert _draft_digests(child) == _draft_digests(base) and child.draft == base.draft
    assert child.draft_architecture == "llama"
    write_tiny_llama(drafts / "second.gguf", seed=11, n_layer=1)
    other = _create(drafts, store, "FROM base\nDRAFT ./second.gguf\n", "other")
    assert _draft_digests(other) == [digest_of((drafts / "second.gguf").read_bytes())]


def test_a_draft_from_an_image_takes_that_images_model_weights(drafts: Path, store: Store) -> None:
    small = _create(drafts, store, "FROM ./draft.gguf\nSYSTEM small\n", "small")
    image = _create(drafts, store, "FROM ./tiny.gguf\nDRAFT small\n")
    assert _draft_digests(image) == [small.stored.manifest.layers_of(media_types.MODEL)[0].digest]
    lock = lockfile.read(drafts / "bot.Modelfile.lock")
    assert lock.draft == DraftLock(
        reference="small",
        kind="image",
        source="small:latest",
        image=small.stored.digest,
        digest=_draft_digests(image)[0],
    )


def test_the_lock_records_the_draft_and_locked_builds_check_it(drafts: Path, store: Store) -> None:
    image = _create(drafts, store, DRAFTED)
    lock = lockfile.read(drafts / "bot.Modelfile.lock")
    assert lock.draft == DraftLock(
        reference="./draft.gguf", kind="file", source="draft.gguf", digest=_draft_digests(image)[0]
    )
    assert isinstance(lock.from_, BaseLock) and lock.image == image.stored.digest
    assert _create(drafts, store, DRAFTED, lock="locked").stored.digest == image.stored.digest
    write_tiny_llama(drafts / "draft.gguf", seed=10, n_layer=1)  # the draft changed
    with pytest.raises(BuildError, match="does not match this build") as caught:
        _create(drafts, store, DRAFTED, lock="locked")
    assert f'-    "digest": "{_draft_digests(image)[0]}"' in str(caught.value)
    assert store.get(ModelName.parse("bot")).digest == image.stored.digest  # not re-tagged


def test_draft_quantize_quantizes_the_draft_only(drafts: Path, store: Store) -> None:
    options = BuildOptions(draft_quantize="q8_0")
    image = _create(drafts, store, DRAFTED, options=options)
    from builder.gguf.file import inspect_gguf

    assert image.draft is not None and inspect_gguf(image.draft).file_type == "Q8_0"
    assert inspect_gguf(image.model_path).file_type == "F16"
    lock = lockfile.read(drafts / "bot.Modelfile.lock")
    assert lock.draft is not None
    assert lock.draft.digest == digest_of((drafts / "draft.gguf").read_bytes())
    assert lock.draft.quantize == QuantizeLock(type="Q8_0", digest=_draft_digests(image)[0])


def test_draft_quantize_refuses_quantized_drafts_and_images_without_a_draft(
    drafts: Path, store: Store
) -> None:
    write_tiny_llama(drafts / "q8.gguf", file_type="Q8_0")
    options = BuildOptions(draft_quantize="Q4_0")
    with pytest.raises(QuantizeRefusedError, match=r"needs unquantized weights .* these are Q8_0"):
        _create(drafts, store, "FROM ./tiny.gguf\nDRAFT ./q8.gguf\n", options=options)
    with pytest.raises(QuantizeRefusedError, match="without a DRAFT"):
        _create(drafts, store, "FROM ./tiny.gguf\n", options=options)


def test_ladle_diff_shows_the_draft(drafts: Path, store: Store) -> None:
    plain = _create(drafts, store, "FROM ./tiny.gguf\nSYSTEM You are terse.\n", "plain")
    drafted = _create(drafts, store, DRAFTED)
    sections = {section.title: section for section in diff_images(plain, drafted).sections}
    assert list(sections) == ["Draft"]
    assert [str(line) for line in sections["Draft"].lines] == [
        "+architecture  llama",
        f"+draft         {_draft_digests(drafted)[0]}",
    ]


def test_a_bundled_model_as_draft_is_built_first(workdir: Path, store: Store) -> None:
    """SmolLM2-135M drafting for itself: the bundled model is built into the store as
    FROM's would be, and its weights become the draft layer."""
    require_bundled_model("smollm2:135m")
    image = _create(workdir, store, "FROM smollm2:135m\nDRAFT smollm2:135m\n")
    bundled = Image.load(store, ModelName.parse("smollm2:135m"))
    assert _draft_digests(image) == [bundled.stored.manifest.layers_of(media_types.MODEL)[0].digest]
    lock = lockfile.read(workdir / "bot.Modelfile.lock")
    assert lock.draft is not None and lock.draft.kind == "bundled"
