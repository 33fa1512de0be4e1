"""The content-addressed store: digests, atomic writes, verification, manifests, locks."""

from __future__ import annotations

import errno
import io
import json
from pathlib import Path

import pytest

from builder.store import media_types
from builder.store.manifest import Descriptor, Manifest, digest_of
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.errors import CorruptBlobError, ModelNotFoundError, StoreError

HELLO = b"hello"
HELLO_DIGEST = digest_of(HELLO)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "models")


def _leftovers(store: Store) -> list[Path]:
    return list((store.root / ".ladle" / "tmp").iterdir())


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:" + "A" * 64,
        "sha256:" + "a" * 63,
        "sha256:../../../etc/passwd",
        "md5:" + "a" * 32,
        "sha256-" + "a" * 64,
        "",
        "sha256:" + "a" * 64 + "/x",
    ],
)
def test_only_sha256_and_64_lowercase_hex_becomes_a_path(store: Store, digest: str) -> None:
    with pytest.raises(StoreError, match="invalid digest"):
        store.blob_path(digest)


def test_blob_path_is_ollamas_layout(store: Store) -> None:
    assert store.blob_path(HELLO_DIGEST) == store.root / "blobs" / ("sha256-" + HELLO_DIGEST[7:])


def test_put_bytes_is_content_addressed_and_deduplicated(store: Store) -> None:
    assert store.put_bytes(HELLO) == HELLO_DIGEST
    assert store.put_bytes(HELLO) == HELLO_DIGEST
    assert store.read_blob(HELLO_DIGEST) == HELLO
    assert store.blob_digests() == {HELLO_DIGEST}


def test_put_stream_hashes_while_copying(store: Store) -> None:
    data = bytes(range(256)) * 100_000  # 25.6 MB, several chunks
    seen: list[int] = []
    digest, size = store.put_stream(io.BytesIO(data), progress=seen.append)
    assert (digest, size) == (digest_of(data), len(data))
    assert sum(seen) == len(data)
    assert store.blob_path(digest).read_bytes() == data
    assert _leftovers(store) == []


def test_put_stream_refuses_wrong_bytes_and_keeps_nothing(store: Store) -> None:
    with pytest.raises(CorruptBlobError, match="received bytes hash to"):
        store.put_stream(io.BytesIO(b"not hello"), expected=HELLO_DIGEST)
    assert store.blob_digests() == set()
    assert _leftovers(store) == []


def test_put_stream_check_can_refuse(store: Store) -> None:
    def refuse(path: Path) -> None:
        assert path.read_bytes() == HELLO  # the complete copy is checked
        raise StoreError("refused")

    with pytest.raises(StoreError, match="refused"):
        store.put_stream(io.BytesIO(HELLO), check=refuse)
    assert store.blob_digests() == set()
    assert _leftovers(store) == []


def test_disk_full_during_a_blob_write(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.put_bytes(HELLO)

    class FullDisk(io.BytesIO):
        def readinto(self, buffer: object) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(StoreError, match="No space left on device"):
        store.put_stream(FullDisk())
    assert store.blob_digests() == {HELLO_DIGEST}  # old state intact
    assert _leftovers(store) == []


def test_a_blob_written_piece_by_piece_is_kept_on_commit(store: Store) -> None:
    data = bytes(range(256)) * 50_000
    with store.blob_writer(digest_of(data)) as writer:
        for start in range(0, len(data), 3_000_000):
            writer.write(data[start : start + 3_000_000])
        assert writer.size == len(data)
        assert writer.commit() == digest_of(data)
    assert store.blob_path(digest_of(data)).read_bytes() == data
    assert _leftovers(store) == []


def test_a_blob_written_piece_by_piece_keeps_nothing_unless_it_hashes_right(
    store: Store,
) -> None:
    with pytest.raises(CorruptBlobError), store.blob_writer(HELLO_DIGEST) as writer:
        writer.write(b"not ")
        writer.write(b"hello")
        writer.commit()
    with store.blob_writer(HELLO_DIGEST) as writer:
        writer.write(HELLO)  # and never committed: the upload was cut off
    assert store.blob_digests() == set()
    assert _leftovers(store) == []


def test_tampered_and_missing_blobs_are_reported(store: Store) -> None:
    store.put_bytes(HELLO)
    store.blob_path(HELLO_DIGEST).write_bytes(b"HELLO")
    with pytest.raises(CorruptBlobError, match="does not match"):
        store.read_blob(HELLO_DIGEST)
    with pytest.raises(CorruptBlobError, match="does not match"):
        store.verify_blob(HELLO_DIGEST)
    store.blob_path(HELLO_DIGEST).unlink()
    with pytest.raises(CorruptBlobError, match="missing"):
        store.read_blob(HELLO_DIGEST)


def _manifest(store: Store, *layers: tuple[str, bytes]) -> Manifest:
    config = store.put_bytes(b"{}")
    descriptors = tuple(
        Descriptor(media_type=media, digest=store.put_bytes(data), size=len(data))
        for media, data in layers
    )
    return Manifest(
        config=Descriptor(media_type=media_types.CONFIG, digest=config, size=2), layers=descriptors
    )


def test_manifests_are_written_last_and_read_back(store: Store) -> None:
    name = ModelName.parse("sre-bot")
    manifest = _manifest(store, (media_types.SYSTEM, b"be brief"))
    digest = store.put_manifest(name, manifest)
    image = store.get(ModelName.parse("SRE-BOT:latest"))
    assert (image.manifest, image.digest) == (manifest, digest)
    path = store.root / "manifests/registry.ollama.ai/library/sre-bot/latest"
    assert json.loads(path.read_bytes())["schemaVersion"] == 2
    assert [image.name.display() for image in store.images()] == ["sre-bot:latest"]


def test_a_manifest_needs_its_blobs(store: Store) -> None:
    manifest = _manifest(store)
    store.blob_path(manifest.config.digest).unlink()
    with pytest.raises(StoreError, match="is not in the store"):
        store.put_manifest(ModelName.parse("x"), manifest)
    assert list(store.images()) == []


def test_delete(store: Store) -> None:
    name = ModelName.parse("team/x:1")
    store.put_manifest(name, _manifest(store))
    store.delete(name)
    with pytest.raises(ModelNotFoundError):
        store.get(name)
    with pytest.raises(ModelNotFoundError):
        store.delete(name)
    assert not (store.root / "manifests/registry.ollama.ai/team").exists()


def test_corrupt_manifest_is_a_store_error(store: Store) -> None:
    name = ModelName.parse("x")
    path = store.manifest_path(name)
    path.parent.mkdir(parents=True)
    path.write_text('{"schemaVersion": 2, "config": {"digest": "nope"}}')
    with pytest.raises(StoreError, match="corrupt manifest x:latest"):
        store.get(name)
    assert list(store.images()) == []


def test_manifest_bytes_are_canonical(store: Store) -> None:
    manifest = _manifest(store, (media_types.SYSTEM, b"a"))
    text = manifest.to_bytes().decode()
    assert text.startswith('{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution')
    assert Manifest.from_bytes(manifest.to_bytes(), "x") == manifest
