"""Registries that lie or overreach (a small server in the test), and registries that
redirect or hand out tokens in ways ladle accepts. Every refusal leaves the store empty."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from builder.distribution import pull_model
from builder.registry.auth import Credentials, CredentialStore
from builder.store.manifest import digest_of
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.errors import RegistryAuthError, RegistryError, UntrustedRegistryError
from ladle.settings import Settings
from tests.builder.registry.conftest import build_tiny, store_is_empty
from tests.fixtures.registry import Exchange, FakeRegistry, image_files

REPOSITORY, TAG = "me/tiny", "latest"
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture(scope="module")
def image(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: Path
) -> tuple[bytes, dict[str, bytes]]:
    """The tiny image's manifest bytes and blobs, to serve."""
    folder = tmp_path_factory.mktemp("source")
    store = Store(folder / "models")
    build_tiny(store, folder / "project", tiny_model, "source/me/tiny")
    return image_files(store.root, "source/me/tiny/latest")


@pytest.fixture
def fake(image: tuple[bytes, dict[str, bytes]]) -> Iterator[FakeRegistry]:
    server = FakeRegistry()
    server.add_image(REPOSITORY, TAG, *image)
    yield server
    server.stop()


@pytest.fixture
def elsewhere() -> Iterator[FakeRegistry]:
    """A second server: "another host" (reached as localhost, the first as 127.0.0.1)."""
    server = FakeRegistry()
    yield server
    server.stop()


def _pull(fake: FakeRegistry, store: Store, settings: Settings) -> str:
    return pull_model(f"{fake.host}/{REPOSITORY}", store, settings)


def _manifest(image: tuple[bytes, dict[str, bytes]]) -> dict[str, object]:
    document: dict[str, object] = json.loads(image[0])
    return document


def test_the_fake_registry_serves_a_good_image(
    fake: FakeRegistry, store: Store, settings: Settings, image: tuple[bytes, dict[str, bytes]]
) -> None:
    assert _pull(fake, store, settings) == digest_of(image[0])


def test_wrong_bytes_for_a_digest_are_refused(
    fake: FakeRegistry, store: Store, settings: Settings, image: tuple[bytes, dict[str, bytes]]
) -> None:
    weights = _manifest(image)["layers"][0]["digest"]  # type: ignore[index]
    genuine = image[1][weights]
    fake.blobs[weights] = bytes(reversed(genuine))  # the same size, other bytes
    with pytest.raises(UntrustedRegistryError, match=f"wrong bytes for blob {weights}"):
        _pull(fake, store, settings)
    assert store_is_empty(store)


def test_more_bytes_than_the_manifest_says_are_refused(
    fake: FakeRegistry, store: Store, settings: Settings, image: tuple[bytes, dict[str, bytes]]
) -> None:
    config = _manifest(image)["config"]["digest"]  # type: ignore[index]
    fake.blobs[config] = image[1][config] + b" " * 10_000_000
    with pytest.raises(UntrustedRegistryError, match="more than"):
        _pull(fake, store, settings)
    assert store_is_empty(store)


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:../../../../etc/passwd",
        "",
        "sha256:" + "A" * 64,
        "md5:" + "0" * 32,
        "sha256:" + "0" * 63,
    ],
)
def test_a_manifest_with_a_bad_digest_is_refused(
    fake: FakeRegistry,
    store: Store,
    settings: Settings,
    image: tuple[bytes, dict[str, bytes]],
    digest: str,
) -> None:
    document = _manifest(image)
    document["layers"][0]["digest"] = digest  # type: ignore[index]
    fake.manifests[f"{REPOSITORY}:{TAG}"] = json.dumps(document).encode()
    with pytest.raises(UntrustedRegistryError, match=r"invalid manifest.*layers\.0\.digest"):
        _pull(fake, store, settings)
    assert store_is_empty(store)
    assert not fake.paths("GET") or all("/blobs/" not in path for path in fake.paths("GET"))


def test_a_100_mb_manifest_is_refused_without_reading_it(
    fake: FakeRegistry, store: Store, settings: Settings
) -> None:
    sent = []

    def endless(exchange: Exchange) -> None:
        def body() -> Iterator[bytes]:
            yield b'{"schemaVersion": 2, "padding": "'
            for _ in range(100):
                sent.append(1)
                yield b"x" * 1_000_000

        exchange.send(200, body(), {"Content-Type": MANIFEST_TYPE})

    fake.on(r"GET /v2/.*/manifests/.*", endless)
    started = time.monotonic()
    with pytest.raises(UntrustedRegistryError, match="manifest is over the limit of 4194304"):
        _pull(fake, store, settings)
    assert time.monotonic() - started < 10
    assert len(sent) < 100
    assert store_is_empty(store)


def test_a_manifest_announced_as_100_mb_is_refused_at_once(
    fake: FakeRegistry, store: Store, settings: Settings
) -> None:
    def announced(exchange: Exchange) -> None:
        exchange.send(200, b"{}", {"Content-Type": MANIFEST_TYPE, "Content-Length": "100000000"})

    fake.on(r"GET /v2/.*/manifests/.*", announced)
    with pytest.raises(UntrustedRegistryError, match="100000000 bytes; the limit"):
        _pull(fake, store, settings)
    assert store_is_empty(store)


def test_a_manifest_whose_digest_header_lies_is_refused(
    fake: FakeRegistry, store: Store, settings: Settings, image: tuple[bytes, dict[str, bytes]]
) -> None:
    def lying(exchange: Exchange) -> None:
        headers = {"Content-Type": MANIFEST_TYPE, "Docker-Content-Digest": "sha256:" + "0" * 64}
        exchange.send(200, image[0], headers)

    fake.on(r"GET /v2/.*/manifests/.*", lying)
    with pytest.raises(UntrustedRegistryError, match="hash to sha256:"):
        _pull(fake, store, settings)
    assert store_is_empty(store)


def test_a_token_realm_on_another_host_is_refused(
    fake: FakeRegistry, elsewhere: FakeRegistry, store: Store, settings: Settings
) -> None:
    fake.bearer_realm = f"http://localhost:{elsewhere.port}/token"
    CredentialStore(settings.registry).save(fake.host, Credentials("me", "s3cret"))
    with pytest.raises(
        UntrustedRegistryError, match=r"token realm .* is on another host \(localhost\)"
    ):
        _pull(fake, store, settings)
    assert elsewhere.requests == []  # the password went nowhere
    assert store_is_empty(store)


def test_a_token_realm_on_the_registrys_host_is_used(
    fake: FakeRegistry, store: Store, settings: Settings, image: tuple[bytes, dict[str, bytes]]
) -> None:
    fake.bearer_realm = f"http://{fake.host}/token"
    CredentialStore(settings.registry).save(fake.host, Credentials("me", "s3cret"))
    assert _pull(fake, store, settings) == digest_of(image[0])
    (token_request,) = [r for r in fake.requests if r[1] == "/token"]
    assert token_request[2]["Authorization"] == Credentials("me", "s3cret").basic()
    blob_requests = [r for r in fake.requests if "/blobs/" in r[1]]
    assert all(r[2]["Authorization"] == "Bearer good-token" for r in blob_requests)


def test_a_redirect_to_another_host_with_credentials_is_refused(
    fake: FakeRegistry,
    elsewhere: FakeRegistry,
    store: Store,
    settings: Settings,
    image: tuple[bytes, dict[str, bytes]],
) -> None:
    fake.basic = ("me", "s3cret")
    CredentialStore(settings.registry).save(fake.host, Credentials("me", "s3cret"))
    elsewhere.blobs.update(image[1])

    def redirect(exchange: Exchange) -> None:
        if exchange.headers.get("Authorization") != Credentials("me", "s3cret").basic():
            exchange.send(401, b"{}", {"WWW-Authenticate": 'Basic realm="fake"'})
            return
        target = f"http://localhost:{elsewhere.port}/v2/{REPOSITORY}/blobs/{exchange.match[1]}"  # type: ignore[index]
        exchange.send(307, b"", {"Location": target})

    fake.on(r"GET /v2/.*/blobs/(.*)", redirect)
    with pytest.raises(UntrustedRegistryError, match="carries your credentials to another host"):
        _pull(fake, store, settings)
    assert elsewhere.requests == []
    assert store_is_empty(store)


def test_a_redirect_without_credentials_is_followed_as_to_a_cdn(
    fake: FakeRegistry,
    elsewhere: FakeRegistry,
    store: Store,
    settings: Settings,
    image: tuple[bytes, dict[str, bytes]],
) -> None:
    elsewhere.blobs.update(image[1])

    def redirect(exchange: Exchange) -> None:
        target = f"http://localhost:{elsewhere.port}/v2/cdn/blobs/{exchange.match[1]}"  # type: ignore[index]
        exchange.send(307, b"", {"Location": target})

    fake.on(r"GET /v2/.*/blobs/(.*)", redirect)
    assert _pull(fake, store, settings) == digest_of(image[0])
    assert len(elsewhere.paths("GET")) == len(image[1])


def test_a_redirect_to_a_url_with_credentials_is_refused(
    fake: FakeRegistry, store: Store, settings: Settings
) -> None:
    fake.on(
        r"GET /v2/.*/blobs/.*",
        lambda exchange: exchange.send(307, b"", {"Location": "http://user:pw@localhost:1/x"}),
    )
    with pytest.raises(UntrustedRegistryError, match="URL with credentials"):
        _pull(fake, store, settings)
    assert store_is_empty(store)


def test_basic_credentials_that_are_missing_or_refused_are_told_apart(
    fake: FakeRegistry, store: Store, settings: Settings
) -> None:
    fake.basic = ("me", "s3cret")
    with pytest.raises(RegistryAuthError, match="it asks for credentials, and none are saved"):
        _pull(fake, store, settings)
    CredentialStore(settings.registry).save(fake.host, Credentials("me", "wrong"))
    with pytest.raises(RegistryAuthError, match="refused the credentials of 'me'"):
        _pull(fake, store, settings)
    assert store_is_empty(store)


def test_a_container_image_is_not_pulled(
    fake: FakeRegistry, store: Store, settings: Settings, image: tuple[bytes, dict[str, bytes]]
) -> None:
    document = _manifest(image)
    document["layers"][0]["mediaType"] = "application/vnd.docker.image.rootfs.diff.tar.gzip"  # type: ignore[index]
    fake.manifests[f"{REPOSITORY}:{TAG}"] = json.dumps(document).encode()
    with pytest.raises(RegistryError, match="not a model image"):
        _pull(fake, store, settings)
    assert store_is_empty(store)


def test_a_multi_platform_index_is_named(
    fake: FakeRegistry, store: Store, settings: Settings
) -> None:
    index = b'{"schemaVersion":2,"manifests":[]}'
    fake.on(
        r"GET /v2/.*/manifests/.*",
        lambda exchange: exchange.send(
            200, index, {"Content-Type": "application/vnd.oci.image.index.v1+json"}
        ),
    )
    with pytest.raises(RegistryError, match="multi-platform index"):
        _pull(fake, store, settings)


def test_an_upload_location_on_another_host_is_refused(
    fake: FakeRegistry, store: Store, settings: Settings, tmp_path: Path, tiny_model: Path
) -> None:
    from builder.distribution import push_model

    name = f"{fake.host}/me/pushed"
    build_tiny(store, tmp_path / "project", tiny_model, name)
    fake.on(r"HEAD /v2/.*/blobs/.*", lambda exchange: exchange.send(404, b""))
    fake.on(
        r"POST /v2/.*/blobs/uploads/",
        lambda exchange: exchange.send(202, b"", {"Location": "http://localhost:1/upload"}),
    )
    with pytest.raises(UntrustedRegistryError, match="upload location on another host"):
        push_model(name, store, settings)


def test_names_are_validated_before_any_request(store: Store, settings: Settings) -> None:
    from ladle.errors import InvalidNameError

    with pytest.raises(InvalidNameError):
        pull_model("localhost:5000/../etc/passwd", store, settings)
    assert ModelName.parse("localhost:5000/me/x").host == "localhost:5000"
