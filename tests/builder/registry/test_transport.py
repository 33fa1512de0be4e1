"""The ``http.client`` transport: kept-alive connections, a dropped one retried, bodies
read with ``readinto``, chunked request bodies."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest

from builder.registry.client import RegistryClient
from builder.registry.transport import READINTO, DirectTransport
from tests.fixtures.registry import Exchange, FakeRegistry, RegistryServer


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    server = FakeRegistry()
    yield server
    server.stop()


def test_connections_are_kept_alive(fake: FakeRegistry) -> None:
    with RegistryClient(fake.host) as client:
        for _ in range(3):
            client.ping()
    assert len(fake.clients) == 3 and len(set(fake.clients)) == 1


def test_a_connection_the_server_dropped_is_opened_again(fake: FakeRegistry) -> None:
    def hang_up(exchange: Exchange) -> None:
        exchange.send(200, b"{}")
        exchange.handler.close_connection = True  # without saying so

    fake.on(r"GET /v2/", hang_up)
    with RegistryClient(fake.host) as client:
        client.ping()
        client.ping()
    assert len(set(fake.clients)) == 2


def test_bodies_are_read_with_readinto(fake: FakeRegistry) -> None:
    data = bytes(range(256)) * 4096
    fake.blobs["sha256:" + "0" * 64] = data
    transport = DirectTransport(5.0, 5.0)
    with httpx.Client(transport=transport) as http:
        url = f"http://{fake.host}/v2/me/x/blobs/sha256:{'0' * 64}"
        with http.stream("GET", url) as response:
            readinto = response.extensions[READINTO]
            buffer = memoryview(bytearray(len(data) + 10))
            assert readinto(buffer) == len(data)
            assert bytes(buffer[: len(data)]) == data
        assert http.get(url).content == data  # the connection went back to the pool
    assert len(set(fake.clients)) == 1


def test_a_refused_connection_is_an_httpx_error() -> None:
    from tests.fixtures.registry import free_port

    with (
        httpx.Client(transport=DirectTransport(5.0, 5.0)) as http,
        pytest.raises(httpx.ConnectError),
    ):
        http.get(f"http://127.0.0.1:{free_port()}/v2/")


def test_a_chunked_upload_body_reaches_the_registry(registry: RegistryServer) -> None:
    data = b"chunked body " * 10_000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with RegistryClient(registry.host) as client:
        url = client.url("v2/me/chunked-body/blobs/uploads/")
        with client.request("POST", url, ()) as started:
            location = started.url.join(started.headers["location"])

        def body() -> Iterator[bytes]:  # no Content-Length: sent chunked
            for start in range(0, len(data), 40_000):
                yield data[start : start + 40_000]

        target = location.copy_merge_params({"digest": digest})
        with client.request("PUT", target, (), body=body) as finished:
            assert finished.status_code == 201
        head = client.url(f"v2/me/chunked-body/blobs/{digest}")
        with client.request("HEAD", head, ()) as found:
            assert found.status_code == 200
            assert found.headers["content-length"] == str(len(data))
