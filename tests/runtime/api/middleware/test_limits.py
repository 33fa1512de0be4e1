"""Request-size limits (413), read timeouts (408, closed connections), and the pace a
blob upload must keep."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import uvicorn
from starlette.types import Message

from ladle.errors import LadleError, RequestTimeoutError, RequestTooLargeError, SettingsError
from ladle.settings import Settings
from runtime.api.middleware.limits import (
    UploadPace,
    check_request_size,
    header_timeout_protocol,
)
from tests.runtime.api.middleware.security_app import call, make_app, make_settings


def test_a_declared_body_over_the_limit_gets_413() -> None:
    app = make_app(make_settings(max_body_bytes=100))
    response = call(app, "POST", "/api/generate", json={"prompt": "x" * 200})
    assert response.status_code == 413
    assert response.json()["error"] == (
        "request too large: the body is 213 bytes, more than the limit of 100 "
        "(LADLE_MAX_BODY_BYTES)"
    )
    assert response.headers["connection"] == "close"


def test_a_chunked_body_over_the_limit_gets_413() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 30

    app = make_app(make_settings(max_body_bytes=100))
    response = call(app, "POST", "/v1/models", content=chunks())
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_a_body_within_the_limit_reaches_the_app() -> None:
    app = make_app(make_settings(max_body_bytes=100))
    response = call(app, "POST", "/api/generate", json={"prompt": "hello"})
    assert response.status_code == 200
    assert b'"hello"' in response.content


def test_blob_uploads_have_no_body_cap_here() -> None:
    app = make_app(make_settings(max_body_bytes=100))
    response = call(app, "POST", "/api/blobs/sha256:00", content=b"x" * 1000)
    assert response.status_code == 201
    assert response.json() == {"size": 1000}


def test_a_body_that_does_not_arrive_in_time_gets_408() -> None:
    app = make_app(make_settings(body_timeout=0.05))
    sent: list[Message] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(10)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": "POST", "path": "/api/generate", "query_string": b"",
        "headers": [(b"host", b"localhost"), (b"content-length", b"10")],
        "client": ("127.0.0.1", 5000),
    }  # fmt: skip
    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=5))
    assert sent[0]["status"] == 408


@pytest.mark.parametrize(
    ("variable", "value", "field", "expected"),
    [
        ("LADLE_MAX_BODY_BYTES", "1048576", "max_body_bytes", 1048576),
        ("LADLE_MAX_BODY_BYTES", "64MiB", "max_body_bytes", 64 * 2**20),
        ("LADLE_MAX_BODY_BYTES", "500kb", "max_body_bytes", 500_000),
        ("LADLE_MAX_PROMPT_CHARS", "1000", "max_prompt_chars", 1000),
        ("LADLE_MAX_MESSAGES", "50", "max_messages", 50),
        ("LADLE_BODY_TIMEOUT", "5", "body_timeout", 5.0),
        ("LADLE_HEADER_TIMEOUT", "0", "header_timeout", 0.0),
        ("LADLE_BLOB_MIN_RATE", "1MiB", "blob_min_rate", 2**20),
        ("LADLE_MAX_UPLOADS", "9", "max_uploads", 9),
    ],
)
def test_limit_settings(variable: str, value: str, field: str, expected: object) -> None:
    settings = Settings.from_environment({"LADLE_MODELS": "/x", variable: value})
    assert getattr(settings.security, field) == expected


@pytest.mark.parametrize("value", ["0", "lots", "1.5MB", "-3"])
def test_a_bad_size_is_a_settings_error(value: str) -> None:
    with pytest.raises(SettingsError, match="LADLE_MAX_BODY_BYTES"):
        Settings.from_environment({"LADLE_MODELS": "/x", "LADLE_MAX_BODY_BYTES": value})


# Limits the service checks on the parsed request

SMALL = make_settings(max_prompt_chars=10, max_messages=2)


def test_a_request_within_the_limits_passes() -> None:
    check_request_size("0123456789", None, SMALL)
    check_request_size(None, [{"role": "user", "content": "01234"}, {"content": "56789"}], SMALL)


def test_a_long_prompt_is_too_large() -> None:
    with pytest.raises(RequestTooLargeError) as caught:
        check_request_size("x" * 11, None, SMALL)
    assert isinstance(caught.value, LadleError)
    assert str(caught.value) == (
        "request too large: the prompt is 11 characters, more than the limit of 10 "
        "(LADLE_MAX_PROMPT_CHARS)"
    )


def test_message_text_counts_towards_the_prompt_limit() -> None:
    class ParsedMessage:  # a parsed request's message, with OpenAI's content parts
        def __init__(self) -> None:
            self.content = [{"type": "text", "text": "012345"}, {"type": "image_url"}]

    with pytest.raises(RequestTooLargeError, match="the prompt is 12 characters"):
        check_request_size(None, [ParsedMessage(), {"role": "user", "content": "abcdef"}], SMALL)


def test_too_many_messages_are_too_large() -> None:
    with pytest.raises(RequestTooLargeError, match=r"3 messages.*LADLE_MAX_MESSAGES"):
        check_request_size(None, [{"content": ""}] * 3, SMALL)


# The header timeout, which only the server can enforce


@pytest.fixture
def slow_header_server() -> Iterator[int]:
    """A uvicorn server with a 0.3 s header timeout on a free loopback port."""
    config = uvicorn.Config(
        make_app(),
        host="127.0.0.1",
        port=0,
        http=header_timeout_protocol(0.3),
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    thread.join(timeout=10)


def test_headers_that_trickle_in_are_cut_off(slow_header_server: int) -> None:
    with socket.create_connection(("127.0.0.1", slow_header_server), timeout=5) as connection:
        started = time.monotonic()
        connection.sendall(b"GET /api/version HTTP/1.1\r\nHost: local")
        for _ in range(20):  # a byte every 0.1 s: each one would reset a keep-alive timer
            time.sleep(0.1)
            try:
                connection.sendall(b"h")
            except OSError:
                break
        assert connection.recv(1024) == b""  # closed by the server
        assert time.monotonic() - started < 1.5


def test_headers_sent_in_time_are_served(slow_header_server: int) -> None:
    with socket.create_connection(("127.0.0.1", slow_header_server), timeout=5) as connection:
        request = b"GET /api/version HTTP/1.1\r\nHost: localhost\r\n\r\n"
        for _ in range(2):  # and again on the same connection, which stays open
            connection.sendall(request)
            response = b""
            while not response.endswith(b'{"version":"0.0.0"}'):
                response += connection.recv(4096) or pytest.fail(f"closed after {response!r}")
            assert response.startswith(b"HTTP/1.1 200 OK")
            time.sleep(0.2)


# The pace of a blob upload

WINDOW = 0.2


def trickle(every: float, size: int, count: int = 1000) -> Any:
    """A ``receive`` that hands ``size`` bytes every ``every`` seconds."""
    sent = 0

    async def receive() -> Message:
        nonlocal sent
        await asyncio.sleep(every)
        sent += 1
        return {"type": "http.request", "body": b"x" * size, "more_body": sent < count}

    return receive


async def drain(pace: UploadPace, receive: Any, between: float = 0.0) -> int:
    """Read the whole body at ``pace``; bytes received. ``between``: the server's own
    time (a disk write) after each chunk."""
    size = 0
    while True:
        message = await pace.receive(receive)
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            return size
        await asyncio.sleep(between)


def test_an_upload_that_keeps_the_pace_arrives_whole() -> None:
    pace = UploadPace(min_rate=1000, window=WINDOW)
    assert asyncio.run(drain(pace, trickle(0.01, 100, count=50))) == 5000


def test_a_trickle_is_cut_off_after_one_window() -> None:
    pace = UploadPace(min_rate=1000, window=WINDOW)
    started = time.monotonic()
    with pytest.raises(RequestTimeoutError) as caught:
        asyncio.run(drain(pace, trickle(0.05, 1)))
    assert time.monotonic() - started < 4 * WINDOW
    assert "fewer than 1,000" in str(caught.value)
    assert "LADLE_BLOB_MIN_RATE" in str(caught.value)


def test_a_client_that_sends_nothing_is_cut_off_after_one_window() -> None:
    async def silent() -> Message:
        await asyncio.sleep(60)
        return {"type": "http.disconnect"}

    started = time.monotonic()
    with pytest.raises(RequestTimeoutError):
        asyncio.run(UploadPace(min_rate=1, window=WINDOW).receive(silent))
    assert time.monotonic() - started < 4 * WINDOW


def test_a_fast_start_does_not_buy_a_long_stall() -> None:
    calls = 0

    async def receive() -> Message:
        nonlocal calls
        calls += 1
        if calls > 1:
            await asyncio.sleep(60)  # then nothing more
        return {"type": "http.request", "body": b"x" * 10_000, "more_body": True}

    async def main() -> None:
        pace = UploadPace(min_rate=1000, window=WINDOW)
        await pace.receive(receive)  # ten windows' worth, at once
        await pace.receive(receive)

    started = time.monotonic()
    with pytest.raises(RequestTimeoutError):
        asyncio.run(main())
    assert time.monotonic() - started < 4 * WINDOW


def test_the_server_s_own_time_is_not_the_client_s() -> None:
    # A slow disk: the server takes 3 windows to write each chunk; the client is quick.
    pace = UploadPace(min_rate=1000, window=WINDOW)
    body = asyncio.run(drain(pace, trickle(0.001, 100, count=4), between=3 * WINDOW))
    assert body == 400
