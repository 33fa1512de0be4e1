"""Modelfile.lock: written beside the Modelfile, checked by ``--locked``, reproducible."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from builder.pipeline import lockfile
from builder.pipeline.build import LockMode, build_file
from builder.pipeline.lockfile import BaseLock, Lockfile, QuantizeLock
from builder.pipeline.options import BuildOptions
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.errors import BuildError, ModelNotFoundError
from tests.fixtures.installed import require_bundled_model
from tests.fixtures.tiny_gguf import write_tiny_llama

BOT = "FROM ./tiny.gguf\nADAPTER ./tiny-lora.gguf\nSYSTEM You are terse.\n"


def _create(
    folder: Path, store: Store, text: str, name: str = "bot", lock: LockMode = "write"
) -> str:
    path = folder / "Modelfile"
    path.write_text(text, encoding="utf-8")
    return build_file(path, name, store, lock=lock)


def _tag(store: Store, name: str) -> str:
    return store.get(ModelName.parse(name)).digest


def test_lock_is_written_beside_the_modelfile(
    workdir: Path, store: Store, snapshot: SnapshotAssertion
) -> None:
    digest = _create(workdir, store, BOT)
    text = (workdir / "Modelfile.lock").read_text(encoding="utf-8")
    assert json.loads(text)["image"] == digest
    # The image digest covers the tools' versions (config ladle.tools); the rest is pinned.
    assert text.replace(digest, "<manifest digest>") == snapshot


def test_lock_of_an_image_base_names_the_image_and_its_digests(workdir: Path, store: Store) -> None:
    base = _create(workdir, store, BOT, "base")
    (workdir / "child").mkdir()
    _create(workdir / "child", store, "FROM base\nSYSTEM child\n", "child")
    lock = lockfile.read(workdir / "child" / "Modelfile.lock")
    weights = store.get(ModelName.parse("base")).manifest.layers[0].digest
    assert lock.from_ == BaseLock(
        reference="base", kind="image", source="base:latest", image=base, digest=weights
    )
    assert lock.adapters == {}  # the base's adapter is locked by the base's digest


def test_lock_records_the_quantized_weights(workdir: Path, store: Store) -> None:
    path = workdir / "Modelfile"
    path.write_text(BOT, encoding="utf-8")
    digest = build_file(path, "bot", store, options=BuildOptions(quantize="q8_0"))
    lock = lockfile.read(lockfile.lock_path(path))
    model = store.get(ModelName.parse("bot")).manifest.layers[0].digest
    assert lock.quantize == QuantizeLock(type="Q8_0", digest=model)
    assert lock.from_.digest != model  # FROM keeps the digest of the file as it is
    assert (
        build_file(path, "bot", store, lock="locked", options=BuildOptions(quantize="Q8_0"))
        == digest
    )
    with pytest.raises(BuildError, match=r'-\s+"quantize": \{'):
        build_file(path, "bot", store, lock="locked")


def test_locked_passes_when_nothing_changed(workdir: Path, store: Store) -> None:
    digest = _create(workdir, store, BOT)
    before = (workdir / "Modelfile.lock").read_bytes()
    assert _create(workdir, store, BOT, lock="locked") == digest
    assert (workdir / "Modelfile.lock").read_bytes() == before
    written = (workdir / "Modelfile.lock").stat().st_mtime_ns
    _create(workdir, store, BOT)
    assert (workdir / "Modelfile.lock").stat().st_mtime_ns == written  # only when it changes


def test_locked_refuses_a_changed_file_and_tags_nothing(workdir: Path, store: Store) -> None:
    digest = _create(workdir, store, BOT)
    before = (workdir / "Modelfile.lock").read_bytes()
    write_tiny_llama(workdir / "tiny.gguf", seed=1)
    with pytest.raises(BuildError) as failure:
        _create(workdir, store, BOT, "bot", lock="locked")
    message = str(failure.value)
    assert "Modelfile.lock does not match this build (--locked)" in message
    assert "\n--- Modelfile.lock\n+++ this build\n" in message
    removed = [line for line in message.splitlines() if line.startswith("-  ")]
    added = [line for line in message.splitlines() if line.startswith("+  ")]
    assert len(removed) == len(added) == 2  # the weights' digest and the image's
    assert all('"digest"' in line or '"image"' in line for line in removed + added)
    with pytest.raises(BuildError, match="does not match"):
        _create(workdir, store, BOT, "new-name", lock="locked")
    assert _tag(store, "bot") == digest
    with pytest.raises(ModelNotFoundError):
        _tag(store, "new-name")
    assert (workdir / "Modelfile.lock").read_bytes() == before


def test_locked_refuses_a_base_image_created_again(workdir: Path, store: Store) -> None:
    _create(workdir, store, BOT, "base")
    child = workdir / "child"
    child.mkdir()
    digest = _create(child, store, "FROM base\n", "child")
    _create(workdir, store, BOT.replace("terse", "verbose"), "base")
    with pytest.raises(BuildError, match=r'(?s)-\s+"image": "sha256:.*\+\s+"image"'):
        _create(child, store, "FROM base\n", "child", lock="locked")
    assert _tag(store, "child") == digest


def test_same_modelfile_and_lock_give_the_same_digest_in_empty_stores(
    workdir: Path, tmp_path: Path
) -> None:
    first = _create(workdir, Store(tmp_path / "one"), BOT)
    assert _create(workdir, Store(tmp_path / "two"), BOT, lock="locked") == first


def test_no_lock_writes_nothing(workdir: Path, store: Store) -> None:
    _create(workdir, store, BOT, lock="off")
    assert not (workdir / "Modelfile.lock").exists()


def test_a_lock_that_cannot_be_written_is_a_build_error(
    workdir: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(lockfile, "write_atomically", full)
    with pytest.raises(BuildError, match=r"cannot write .*Modelfile\.lock: No space left"):
        _create(workdir, store, BOT)


def test_locked_without_a_lock_says_how_to_write_one(workdir: Path, store: Store) -> None:
    with pytest.raises(BuildError, match="without --locked to write it"):
        _create(workdir, store, BOT, lock="locked")
    assert list(store.images()) == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "not a valid lock"),
        ('{"version": 2}', "has version 2; this ladle reads 1"),
        ('{"version": 1, "image": "sha256:x"}', "not a valid lock: from: Field required"),
    ],
)
def test_an_unreadable_lock_is_a_build_error(
    workdir: Path, store: Store, text: str, reason: str
) -> None:
    (workdir / "Modelfile.lock").write_text(text)
    with pytest.raises(BuildError, match=reason):
        _create(workdir, store, BOT, lock="locked")


def test_compare_gives_a_unified_diff() -> None:
    base = BaseLock(reference="./m.gguf", kind="file", source="m.gguf", digest="sha256:" + "a" * 64)
    old = Lockfile(from_=base, image="sha256:" + "b" * 64)
    assert lockfile.compare(old, old) == []
    new = old.model_copy(update={"adapters": {"./l.gguf": "sha256:" + "c" * 64}})
    diff = lockfile.compare(old, new)
    assert diff[:2] == ["--- Modelfile.lock", "+++ this build"]
    assert [line for line in diff if line[:1] in "+-" and line[:3] not in ("---", "+++")] == [
        '-  "adapters": {},',
        '+  "adapters": {',
        '+    "./l.gguf": "sha256:' + "c" * 64 + '"',
        "+  },",
    ]


def test_bundled_base_is_locked_and_checked_before_it_is_tagged(tmp_path: Path) -> None:
    require_bundled_model("smollm2:135m")
    folder = tmp_path / "project"
    folder.mkdir()
    text = "FROM smollm2:135m\nSYSTEM be brief\n"
    digest = _create(folder, Store(tmp_path / "one"), text)
    lock = lockfile.read(folder / "Modelfile.lock")
    assert (lock.from_.kind, lock.from_.source) == ("bundled", "smollm2:135m")
    # Built into an empty store, or found already built: the same lock either way.
    assert _create(folder, Store(tmp_path / "two"), text, lock="locked") == digest
    assert _create(folder, Store(tmp_path / "two"), text, lock="locked") == digest
    wrong = lock.model_copy(
        update={"from_": lock.from_.model_copy(update={"image": "sha256:" + "0" * 64})}
    )
    lockfile.write(folder / "Modelfile.lock", wrong)
    three = Store(tmp_path / "three")
    with pytest.raises(BuildError, match='"image"'):
        _create(folder, three, text, lock="locked")
    assert list(three.images()) == []  # not even the bundled base
