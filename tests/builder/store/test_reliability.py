"""The store survives what happens to real builds: SIGKILL at any moment, several
processes creating one tag at once, and a full disk.

The invariants checked after each: every manifest parses, every blob hashes to its name,
every referenced blob exists, the tag points at the old image or the new one (never a
mix, never something else), and the next create works. The kill and concurrency tests
run ``python -m ladle create`` as real processes on a ~26 MB GGUF, so that a copy takes
long enough to be interrupted.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import builder.store.hashing
import builder.store.store
import ladle.atomic
from builder.pipeline import lockfile
from builder.pipeline.build import build_file
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.errors import ModelNotFoundError, StoreError
from tests.fixtures.tiny_gguf import write_tiny_llama

ROOT = Path(__file__).parents[3]
KILL_RUNS = 20
CREATORS = 8
OLD = "FROM ./tiny.gguf\nSYSTEM old\n"
NEW = "FROM ./big.gguf\nSYSTEM new\n"


class Project:
    """A folder with a tiny and a big GGUF, and what a complete create of NEW gives."""

    def __init__(self, folder: Path, timing: tuple[float, float], new_lock: str) -> None:
        self.folder = folder
        self.build_seconds, self.write_seconds = timing
        self.new_lock = new_lock
        self.new_digest = lockfile.Lockfile.model_validate_json(new_lock).image

    def modelfile(self, text: str, name: str = "Modelfile") -> Path:
        path = self.folder / name
        path.write_text(text, encoding="utf-8")
        return path


def _create(folder: Path, models: Path, name: str, modelfile: str) -> subprocess.Popen[bytes]:
    """``ladle create`` as its own process, its output discarded."""
    env = {**os.environ, "LADLE_MODELS": str(models), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "ladle", "create", name, "-f", modelfile],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_for_copy(process: subprocess.Popen[bytes], store: Store) -> None:
    """Return once ``process`` has begun copying weights (its temp file exists) or ended."""
    temp = store.root / ".ladle" / "tmp"
    while process.poll() is None and not (temp.is_dir() and any(temp.iterdir())):
        time.sleep(0.001)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Project:
    folder = tmp_path_factory.mktemp("reliability")
    shutil.copy(tiny_model, folder / "tiny.gguf")
    # 8192 x 512 F16 embeddings, twice: ~26 MB, a copy of a few hundred ms.
    write_tiny_llama(folder / "big.gguf", n_vocab=8192, n_embd=512, n_ff=1024)
    (folder / "Modelfile").write_text(NEW, encoding="utf-8")
    started = time.monotonic()
    process = _create(folder, folder / "reference", "bot", "Modelfile")
    _wait_for_copy(process, Store(folder / "reference"))
    copying = time.monotonic()
    assert process.wait() == 0
    ended = time.monotonic()
    lock = (folder / "Modelfile.lock").read_text(encoding="utf-8")
    return Project(folder, (ended - started, ended - copying), lock)


def _tag(store: Store, name: str = "bot") -> str | None:
    try:
        return store.get(ModelName.parse(name)).digest
    except ModelNotFoundError:
        return None


def assert_consistent(store: Store, allowed: set[str | None]) -> None:
    """Every manifest parses, every blob is whole, and the tag ``bot`` is in ``allowed``."""
    # Temp files (dot names) may be left by a killed writer; anything else is a manifest.
    manifests = [
        path
        for path in store.manifests.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    ]
    images = list(store.images())
    assert len(images) == len(manifests)  # images() skips what it cannot parse
    for digest in store.blob_digests():
        store.verify_blob(digest)
    for image in images:
        assert all(store.has_blob(digest) for digest in image.manifest.blob_digests())
    assert _tag(store) in allowed


def test_sigkill_at_random_moments_slow(project: Project, tmp_path: Path) -> None:
    """The slowest test here (~1 s a run). Half the kills come at any moment of a build,
    the other half once it writes (most of a build is Python starting), spread over the
    time the reference build took from there."""
    old_modelfile = project.modelfile(OLD, "old.Modelfile")
    chance = random.Random(20_260_126)
    killed = 0
    for run in range(KILL_RUNS):
        store = Store(tmp_path / f"models-{run}")
        old = build_file(old_modelfile, "bot", store, lock="off")
        process = _create(project.folder, store.root, "bot", "Modelfile")
        if run % 2:
            _wait_for_copy(process, store)
            time.sleep(chance.uniform(0, project.write_seconds))
        else:
            time.sleep(chance.uniform(0, project.build_seconds))
        process.send_signal(signal.SIGKILL)
        killed += process.wait() == -signal.SIGKILL
        assert_consistent(store, {old, project.new_digest})
        lock = project.folder / "Modelfile.lock"
        assert lock.read_text(encoding="utf-8") == project.new_lock  # written atomically
        assert build_file(project.folder / "Modelfile", "bot", store) == project.new_digest
        assert_consistent(store, {project.new_digest})
        shutil.rmtree(store.root)
    assert killed > 0


def test_concurrent_creates_of_one_tag_leave_one_whole_image(
    project: Project, tmp_path: Path
) -> None:
    store = Store(tmp_path / "models")
    names = [f"bot{index}.Modelfile" for index in range(CREATORS)]
    for index, name in enumerate(names):
        project.modelfile(f"FROM ./big.gguf\nSYSTEM prompt {index}\n", name)
    processes = [_create(project.folder, store.root, "bot", name) for name in names]
    seen = set()
    while any(process.poll() is None for process in processes):
        seen.add(_tag(store))  # a reader meanwhile: a torn manifest would raise here
        time.sleep(0.005)
    assert [process.returncode for process in processes] == [0] * CREATORS
    results: set[str | None] = {
        lockfile.read(project.folder / f"{name}.lock").image for name in names
    }
    assert len(results) == CREATORS
    assert seen <= results | {None}
    assert len(list(store.images())) == 1
    assert_consistent(store, results)
    assert not list(store.root.joinpath(".ladle", "tmp").iterdir())


def _no_space(after_calls: int, real: Callable[..., Any]) -> Callable[..., Any]:
    """``real``, failing with ENOSPC from call ``after_calls + 1`` on."""
    calls = 0

    def write(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls > after_calls:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*args)

    return write


def test_disk_full_during_a_weights_copy(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "models")
    old = build_file(project.modelfile(OLD, "old.Modelfile"), "bot", store, lock="off")
    blobs = store.blob_digests()
    new = project.modelfile(NEW, "full.Modelfile")
    # Two 1 MiB chunks are written, then the disk is full.
    monkeypatch.setattr(
        builder.store.hashing, "write_all", _no_space(2, builder.store.hashing.write_all)
    )
    with pytest.raises(StoreError, match="cannot write a blob to the store: No space left"):
        build_file(new, "bot", store)
    assert not list(store.root.joinpath(".ladle", "tmp").iterdir())
    assert store.blob_digests() == blobs
    assert _tag(store) == old
    assert not lockfile.lock_path(new).exists()
    assert_consistent(store, {old})


@pytest.mark.parametrize("target", ["blob", "manifest"])
def test_disk_full_during_an_atomic_write(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    """A small blob (the SYSTEM text) or the manifest: fsync fails with ENOSPC, as it
    does on file systems that allocate late."""
    store = Store(tmp_path / "models")
    old = build_file(project.modelfile(OLD, "old.Modelfile"), "bot", store, lock="off")
    blobs = store.blob_digests()
    derived = project.modelfile("FROM bot\nSYSTEM derived\n", "derived.Modelfile")
    folder = store.blobs if target == "blob" else store.manifests
    real_write, real_fsync = builder.store.store.write_atomically, os.fsync

    def write(path: Path, data: bytes, *args: int) -> None:
        with pytest.MonkeyPatch.context() as patch:
            if path.is_relative_to(folder):
                patch.setattr(ladle.atomic.os, "fsync", _no_space(0, real_fsync))
            real_write(path, data, *args)

    monkeypatch.setattr(builder.store.store, "write_atomically", write)
    what = "blob sha256:" if target == "blob" else "the manifest of bot:latest"
    with pytest.raises(StoreError, match=f"cannot write {what}.* No space left on device"):
        build_file(derived, "bot", store)
    assert not [path for path in store.root.rglob(".*") if path.is_file()]  # no temp files
    if target == "blob":
        assert store.blob_digests() == blobs
    assert_consistent(store, {old})
