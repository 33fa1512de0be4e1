"""Names resolved to images once, and the caches behind them hammered from many threads."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from builder.gguf.file import GGUFInfo
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.errors import ModelNotFoundError
from runtime import images
from runtime.images import ImageCache, LoadingCache
from tests.runtime.scheduler_fakes import put_image

THREADS = 16
OPERATIONS = 200
KEYS = 24
CAPACITY = 4


@pytest.fixture
def eager_switching() -> Iterator[None]:
    """Threads switch every microsecond, so that a race shows up in a short run."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


class SlowLoader:
    """Loads ``key`` into ``("value", key)`` slowly; notes two loads of one key at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.loads = 0
        self.overlaps = 0
        self._running: set[int] = set()
        self._lock = threading.Lock()

    def __call__(self, key: int) -> Callable[[], tuple[str, int]]:
        def load() -> tuple[str, int]:
            with self._lock:
                self.loads += 1
                self.overlaps += key in self._running
                self._running.add(key)
            time.sleep(self.seconds)
            with self._lock:
                self._running.discard(key)
            return ("value", key)

        return load


def _in_threads(work: Callable[[int], None]) -> list[BaseException]:
    """Run ``work(number)`` in :data:`THREADS` threads started together; their errors."""
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def run(number: int) -> None:
        start.wait()
        try:
            work(number)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_concurrent_first_requests_load_once(eager_switching: None) -> None:
    cache: LoadingCache[int, tuple[str, int]] = LoadingCache(CAPACITY)
    loader = SlowLoader(0.05)
    seen: list[tuple[str, int]] = []
    errors = _in_threads(lambda _: seen.append(cache.get(7, loader(7))))
    assert errors == []
    assert loader.loads == 1
    assert len(seen) == THREADS and all(value is seen[0] for value in seen)


@pytest.mark.parametrize("seconds", [0.0005, 0.0])
def test_many_threads_getting_and_evicting_never_break_the_cache(
    seconds: float, eager_switching: None
) -> None:
    """16 threads x 200 operations over more keys than fit: every get that misses evicts
    the oldest entry, and every fifth operation evicts a key outright."""
    cache: LoadingCache[int, tuple[str, int]] = LoadingCache(CAPACITY)
    loader = SlowLoader(seconds)

    def work(number: int) -> None:
        for step in range(OPERATIONS):
            key = (number * 7 + step * 5) % KEYS
            if step % 5 == 4:
                cache.evict(key.__eq__)
            else:
                assert cache.get(key, loader(key)) == ("value", key)
            assert len(cache) <= CAPACITY

    assert _in_threads(work) == []
    assert loader.overlaps == 0, "one key was loaded by two threads at once"
    assert len(cache) <= CAPACITY


def test_a_failed_load_is_not_kept_and_its_waiters_share_the_error() -> None:
    cache: LoadingCache[str, int] = LoadingCache(2)
    calls: list[str] = []

    def failing() -> int:
        calls.append("load")
        time.sleep(0.02)
        raise OSError("disk gone")

    errors = _in_threads(lambda _: cache.get("k", failing))
    assert calls == ["load"]
    assert [str(error) for error in errors] == ["disk gone"] * THREADS
    assert cache.get("k", lambda: 5) == 5
    assert len(cache) == 1


# -- images ---------------------------------------------------------------------


@pytest.fixture
def header_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every GGUF header the image cache inspects."""
    reads: list[Path] = []
    inspect = images.inspect_gguf

    def counted(path: Path, *, display_name: str | None = None) -> GGUFInfo:
        reads.append(path)
        return inspect(path, display_name=display_name)

    monkeypatch.setattr(images, "inspect_gguf", counted)
    return reads


def test_a_name_resolves_to_one_image_until_its_tag_moves(
    tmp_path: Path, header_reads: list[Path]
) -> None:
    store = Store(tmp_path / "models")
    digest = put_image(store, "a")
    cache = ImageCache(store)
    first = cache.resolve(ModelName.parse("a"))
    assert cache.resolve(ModelName.parse("a:latest")) is first
    assert first.digest == digest and first.name == ModelName.parse("a")
    assert first.gguf is not None and first.gguf.name == "weights"
    put_image(store, "a", weights=b"new")
    moved = cache.resolve(ModelName.parse("a"))
    assert moved.digest != digest and moved.gguf is not None and moved.gguf.name == "new"
    assert len(header_reads) == 2


def test_a_header_is_read_once_per_blob(tmp_path: Path, header_reads: list[Path]) -> None:
    store = Store(tmp_path / "models")
    put_image(store, "a")
    put_image(store, "b")  # the same weights under another tag
    cache = ImageCache(store)
    a, b = cache.resolve(ModelName.parse("a")), cache.resolve(ModelName.parse("b"))
    assert a is not b and a.gguf is b.gguf
    assert len(header_reads) == 1


def test_concurrent_resolves_read_once(
    tmp_path: Path, header_reads: list[Path], eager_switching: None
) -> None:
    store = Store(tmp_path / "models")
    put_image(store, "a")
    cache = ImageCache(store)
    found = []
    errors = _in_threads(lambda _: found.append(cache.resolve(ModelName.parse("a"))))
    assert errors == [] and all(model is found[0] for model in found)
    assert len(header_reads) == 1


def test_a_deleted_tag_is_not_found_and_can_be_forgotten(tmp_path: Path) -> None:
    store = Store(tmp_path / "models")
    put_image(store, "a")
    put_image(store, "b")
    cache = ImageCache(store)
    a = cache.resolve(ModelName.parse("a"))
    cache.resolve(ModelName.parse("b"))
    store.delete(ModelName.parse("a"))
    with pytest.raises(ModelNotFoundError):
        cache.resolve(ModelName.parse("a"))
    cache.forget(ModelName.parse("a"))
    put_image(store, "a")  # the same manifest again: read afresh, not the forgotten one
    assert cache.resolve(ModelName.parse("a")) is not a
