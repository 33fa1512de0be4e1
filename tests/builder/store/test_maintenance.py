"""``prune`` and ``doctor``: what may be removed, what counts as damage."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from builder.pipeline.build import build_file
from builder.store import media_types
from builder.store.doctor import examine
from builder.store.image import Image
from builder.store.maintenance import (
    GRACE_SECONDS,
    plan_prune,
    prompt_cache_removals,
    prune,
    remove_prompt_caches,
)
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.errors import StoreError

BASE = 'FROM ./tiny.gguf\nSYSTEM base system\nPARAMETER temperature 0.5\nLICENSE "MIT"\n'
CHILD = "FROM base\nSYSTEM child system\nPARAMETER top_k 5\nADAPTER ./tiny-lora.gguf\n"
ROOT = Path(__file__).parents[3]


@pytest.fixture
def store(tmp_path: Path, tiny_model: Path, tiny_lora: Path) -> Store:
    """A store holding ``base`` and ``child`` (built FROM base, with an adapter)."""
    shutil.copy(tiny_model, tmp_path / "tiny.gguf")
    shutil.copy(tiny_lora, tmp_path / "tiny-lora.gguf")
    store = Store(tmp_path / "models")
    for name, text in (("base", BASE), ("child", CHILD)):
        (tmp_path / f"{name}.Modelfile").write_text(text, encoding="utf-8")
        build_file(tmp_path / f"{name}.Modelfile", name, store, lock="off")
    return store


def _age(store: Store, seconds: float = GRACE_SECONDS + 60) -> None:
    """Make every file in the store look ``seconds`` old."""
    for path in store.root.rglob("*"):
        if path.is_file():
            old = path.stat().st_mtime - seconds
            os.utime(path, (old, old))


def _digests(store: Store, name: str) -> set[str]:
    return set(store.get(ModelName.parse(name)).manifest.blob_digests())


def _model_blob(store: Store) -> Path:
    return Image.load(store, ModelName.parse("base")).model_path


# -- prune -----------------------------------------------------------------------------


def test_prune_keeps_blobs_of_remaining_images_and_removes_orphans(store: Store) -> None:
    base, child = _digests(store, "base"), _digests(store, "child")
    assert base & child  # the weights are shared
    store.delete(ModelName.parse("child"))
    _age(store)
    removed: list[str] = []
    plan = prune(store, lambda removal: removed.append(removal.label(store)))
    assert set(removed) == child - base
    assert plan.reclaimed == sum(removal.size for removal in plan.removals) > 0
    assert store.blob_digests() == base
    assert examine(store).ok  # what stays is whole


def test_prune_with_nothing_to_do(store: Store) -> None:
    _age(store)
    plan = prune(store)
    assert plan.removals == () and plan.reclaimed == 0


def test_prune_refuses_while_a_manifest_is_unreadable(store: Store) -> None:
    store.delete(ModelName.parse("child"))
    _age(store)
    before = store.blob_digests()
    store.manifest_path(ModelName.parse("base")).write_text("{not json")
    with pytest.raises(StoreError) as caught:
        prune(store)
    message = str(caught.value)
    assert message.startswith("nothing was pruned: a manifest that cannot be read")
    assert "manifests/registry.ollama.ai/library/base/latest" in message
    assert "ladle rm base:latest" in message
    assert store.blob_digests() == before
    with pytest.raises(StoreError, match="nothing was pruned"):
        plan_prune(store)  # the dry run says so too


def test_prune_spares_fresh_blobs(store: Store) -> None:
    _age(store)
    fresh = store.put_bytes(b"a layer of a build in progress")
    plan = prune(store)
    assert [removal.digest for removal in plan.spared] == [fresh]
    assert store.has_blob(fresh)
    _age(store)
    assert [removal.digest for removal in prune(store).removals] == [fresh]
    assert not store.has_blob(fresh)


def test_prune_refuses_beside_a_writer(store: Store) -> None:
    with store.in_use(), pytest.raises(StoreError, match="another ladle command is writing"):
        prune(store)


def test_dry_run_writes_nothing(store: Store) -> None:
    store.delete(ModelName.parse("child"))
    _age(store)
    files = sorted(store.root.rglob("*"))
    plan = plan_prune(store)
    assert plan.removals
    assert sorted(store.root.rglob("*")) == files


def test_prune_removes_stale_temp_files_only(store: Store) -> None:
    stale = store.temp / "tmp-interrupted"
    stale.write_bytes(b"x" * 100)
    leftover = store.blobs / ".sha256-0123.tmpabc"  # an interrupted atomic write
    leftover.write_bytes(b"y")
    _age(store)
    fresh = store.temp / "tmp-copying"
    fresh.write_bytes(b"z")
    labels = [removal.label(store) for removal in prune(store).removals]
    assert labels == [".ladle/tmp/tmp-interrupted", "blobs/.sha256-0123.tmpabc"]
    assert fresh.exists() and not stale.exists() and not leftover.exists()


WRITER = """
import sys, time
from pathlib import Path
from builder.store.store import Store
with Store(Path(sys.argv[1])).blob_writer() as writer:
    writer.write(b"x" * 100_000)
    print("writing", flush=True)
    time.sleep(60)
"""


def test_prune_removes_a_dead_writer_s_temp_file_at_once(store: Store) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(store.root)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
        temp = next(store.temp.glob("writing-*"))
        assert [r.path for r in plan_prune(store).removals] == []  # its writer lives
    finally:
        writer.kill()  # as the OOM killer or a second Ctrl-C would
        writer.wait()
    assert temp.exists()  # left behind, just written: no grace period to wait out
    removed = [removal.path for removal in prune(store).removals]
    assert removed == [temp] and not temp.exists()


def test_prune_spares_a_live_writer_s_temp_file_however_old(store: Store) -> None:
    with store.blob_writer() as writer:
        writer.write(b"x" * 1000)
        _age(store, 10 * GRACE_SECONDS)  # a slow upload, stalled for long
        assert prune(store).removals == ()
        writer.write(b"y")
    assert list(store.temp.iterdir()) == []


def test_prune_leaves_files_it_does_not_own(store: Store) -> None:
    partial = store.blobs / ("sha256-" + "a" * 64 + "-partial")  # an Ollama download
    partial.write_bytes(b"half")
    cache = store.private_folder("cache", "quantize") / "weights.gguf"
    cache.write_bytes(b"cached")
    _age(store)
    prune(store)
    assert partial.exists() and cache.exists()


def test_prune_keeps_blobs_of_a_manifest_ladle_cannot_name(store: Store) -> None:
    """A readable manifest protects its blobs even where no valid name points at it."""
    source = store.manifest_path(ModelName.parse("child"))
    stray = store.manifests / "registry.ollama.ai" / "library" / "Child" / "latest"
    stray.parent.mkdir(parents=True)
    shutil.copy(source, stray)
    store.delete(ModelName.parse("child"))
    _age(store)
    assert prune(store).removals == ()


def test_prune_of_a_store_that_does_not_exist(tmp_path: Path) -> None:
    store = Store(tmp_path / "nowhere")
    assert prune(store).removals == ()
    assert not store.root.exists()


# -- doctor ----------------------------------------------------------------------------


def test_doctor_passes_a_clean_store(store: Store) -> None:
    seen: list[tuple[int, int]] = []
    checkup = examine(store, lambda done, total: seen.append((done, total)))
    assert checkup.ok and checkup.notes == ()
    assert checkup.images == 2
    assert checkup.blobs == len(_digests(store, "base") | _digests(store, "child"))
    assert checkup.checked_bytes == sum(
        store.blob_path(digest).stat().st_size for digest in store.blob_digests()
    )
    assert seen[-1] == (checkup.checked_bytes, checkup.checked_bytes)


def test_doctor_finds_a_tampered_blob(store: Store) -> None:
    path = _model_blob(store)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # same size, different content
    path.write_bytes(bytes(data))
    (problem,) = examine(store).problems
    assert problem.subject.startswith("blob sha256:")
    assert "(used by base:latest, child:latest)" in problem.subject
    assert problem.message == "its content does not match the digest"
    assert (
        problem.fix
        == "ladle rm base:latest child:latest && ladle prune, then re-create the image(s)"
    )


def test_doctor_finds_a_truncated_blob(store: Store) -> None:
    path = _model_blob(store)
    size = path.stat().st_size
    path.write_bytes(path.read_bytes()[:100])
    checkup = examine(store)
    (problem,) = checkup.problems
    assert problem.message == (
        f"the blob file has 100 bytes, but the manifest of base:latest says {size}"
    )
    assert "ladle prune" in problem.fix
    assert checkup.checked_bytes < size  # a blob of the wrong size is not hashed


def test_doctor_finds_a_missing_blob(store: Store) -> None:
    (system,) = store.get(ModelName.parse("child")).manifest.layers_of(media_types.SYSTEM)
    digest = system.digest
    store.blob_path(digest).unlink()
    (problem,) = examine(store).problems
    assert problem.subject == f"blob {digest} (used by child:latest)"
    assert problem.message == "the blob file is missing"
    assert (
        problem.fix == "re-create child:latest ('ladle create'), or remove: ladle rm child:latest"
    )


def test_doctor_finds_a_corrupt_manifest(store: Store) -> None:
    path = store.manifest_path(ModelName.parse("child"))
    path.write_text('{"schemaVersion": 1, "config": {}, "layers": []}')
    checkup = examine(store)
    (problem,) = checkup.problems
    assert problem.subject == "manifest child:latest"
    assert problem.message.startswith("corrupt manifest manifests/registry.ollama.ai/library/child")
    assert problem.fix == "ladle rm child:latest, then re-create the image"
    assert checkup.images == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            b'{"schemaVersion":3,"config":{"mediaType":"x","digest":"sha256:'
            + b"a" * 64
            + b'","size":1},"layers":[]}',
            "has schemaVersion 3, not 2",
        ),
        (
            b'{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:xyz","size":1},'
            b'"layers":[]}',
            "config.digest",
        ),
    ],
)
def test_doctor_checks_schema_version_and_digests(store: Store, text: bytes, message: str) -> None:
    store.manifest_path(ModelName.parse("child")).write_bytes(text)
    (problem,) = examine(store).problems
    assert message in problem.message


def test_doctor_finds_a_manifest_at_an_invalid_name(store: Store) -> None:
    stray = store.manifests / "registry.ollama.ai" / "library" / "..bad" / "latest"
    stray.parent.mkdir(parents=True)
    shutil.copy(store.manifest_path(ModelName.parse("base")), stray)
    (problem,) = examine(store).problems
    assert problem.subject == "manifest manifests/registry.ollama.ai/library/..bad/latest"
    assert "invalid model name" in problem.message
    assert problem.fix == f"rm {stray}"


def test_doctor_notes_unused_blobs_and_stale_temp_files(store: Store) -> None:
    store.delete(ModelName.parse("child"))
    (store.temp / "tmp-interrupted").write_bytes(b"x" * 10)
    _age(store)
    checkup = examine(store)
    assert checkup.ok
    assert [note.message for note in checkup.notes] == [
        f"{len(_orphans(store))} blob(s) used by no image",
        "1 temp file(s) left by interrupted writes",
    ]
    assert {note.fix for note in checkup.notes} == {"ladle prune"}


def _orphans(store: Store) -> set[str]:
    return store.blob_digests() - _digests(store, "base")


def test_doctor_of_an_empty_store(tmp_path: Path) -> None:
    checkup = examine(Store(tmp_path / "nowhere"))
    assert checkup.ok and (checkup.images, checkup.blobs, checkup.checked_bytes) == (0, 0, 0)


# -- saved prompt caches ---------------------------------------------------------------


def _saved_caches(store: Store, *blob_names: str) -> Path:
    folder = store.root / ".ladle" / "prompt-cache"
    for name in blob_names:
        (folder / name / "0123abcd").mkdir(parents=True)
        (folder / name / "0123abcd" / "4567.kvcache").write_bytes(b"x" * 100)
    return folder


def test_prune_removes_the_prompt_caches_of_weights_no_longer_in_the_store(store: Store) -> None:
    model = _model_blob(store).name
    gone = "sha256-" + "0" * 64
    folder = _saved_caches(store, model, gone)
    removals = prompt_cache_removals(folder, store, plan_prune(store))
    assert [(removal.path.name, removal.size) for removal in removals] == [(gone, 100)]
    remove_prompt_caches(removals)
    assert sorted(path.name for path in folder.iterdir()) == [model]


def test_prune_removes_the_prompt_caches_of_weights_it_removes(store: Store) -> None:
    folder = _saved_caches(store, _model_blob(store).name)
    for name in ("child", "base"):
        store.delete(ModelName.parse(name))
    _age(store)
    assert len(prompt_cache_removals(folder, store, plan_prune(store))) == 1


def test_prune_with_caches_removes_every_prompt_cache(store: Store) -> None:
    folder = _saved_caches(store, _model_blob(store).name)
    removals = prompt_cache_removals(folder, store, plan_prune(store), everything=True)
    remove_prompt_caches(removals)
    assert list(folder.iterdir()) == []
