"""Hostile blob uploads against a live ``ladle serve``: a trickle is cut off, uploads
beyond ``LADLE_MAX_UPLOADS`` are refused at once, slow uploads hold no thread (the other
routes keep answering), and an upload cut short by its client is one line in the log.

Raw sockets, so that an upload can be as slow, or as short, as an attacker's.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from runtime.api.middleware.limits import PACE_WINDOW_S

from .test_live_server import Server, live_server

DIGEST = "sha256:" + "ab" * 32
"""What the uploads claim to be (none of them gets that far)."""
QUICK_S = 2.0
"""How long the other routes may take while uploads hang (a shared CI machine is slow)."""


@pytest.fixture
def slow_server(built_store: Path, tmp_path: Path) -> Iterator[Server]:
    """A server taking 45 uploads at once (the number that starved the thread pool),
    each held to 1 byte a second so that the test's own pace never trips it."""
    env = {"LADLE_MAX_UPLOADS": "45", "LADLE_BLOB_MIN_RATE": "1"}
    with live_server(built_store, tmp_path, env) as server:
        yield server


@pytest.fixture
def server(built_store: Path, tmp_path: Path) -> Iterator[Server]:
    with live_server(built_store, tmp_path) as served:
        yield served


def start_upload(server: Server, length: int = 10**9, first: bytes = b"x") -> socket.socket:
    """An upload of ``length`` bytes whose headers and ``first`` bytes are sent."""
    address = urlsplit(server.url)
    connection = socket.create_connection((address.hostname, address.port), timeout=30)
    head = (
        f"POST /api/blobs/{DIGEST} HTTP/1.1\r\nHost: {address.netloc}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )
    connection.sendall(head.encode() + first)
    return connection


def answer_of(connection: socket.socket, wait: float) -> bytes:
    """What the server answered within ``wait`` seconds (b"" if nothing): all of it, up
    to a pause of half a second."""
    answer = b""
    while select.select([connection], [], [], wait)[0]:
        try:
            piece = connection.recv(65536)
        except ConnectionResetError:
            # The server answered and closed while a byte sent meanwhile was unread, so
            # its kernel reset the connection, and Linux drops what was not read yet
            return answer or RESET
        if not piece:
            break
        answer, wait = answer + piece, 0.5
    return answer


def quick(server: Server, method: str, path: str, **kwargs: object) -> float:
    """Seconds ``method path`` took (it must answer 200)."""
    started = time.monotonic()
    answer = httpx.request(method, f"{server.url}{path}", timeout=30, **kwargs)  # type: ignore[arg-type]
    assert answer.status_code == 200, answer.text
    return time.monotonic() - started


RESET = b"(reset)"


def test_a_trickling_upload_is_cut_off(server: Server) -> None:
    connection = start_upload(server)
    started, answer = time.monotonic(), b""
    with contextlib.closing(connection):
        while not answer and time.monotonic() - started < 3 * PACE_WINDOW_S:
            answer = answer_of(connection, 0.5)
            if not answer:
                connection.sendall(b"x")  # 2 bytes a second: far below 32 KiB
    assert time.monotonic() - started < 2 * PACE_WINDOW_S + 5
    if answer != RESET:  # a reset is the same cut-off, its answer lost on the way
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert b"connection: close" in answer.lower()
        assert b"LADLE_BLOB_MIN_RATE" in answer
    assert quick(server, "GET", "/api/version") < QUICK_S
    assert list((server.models / ".ladle" / "tmp").iterdir()) == []  # nothing kept


def test_slow_uploads_hold_no_thread_and_the_next_one_is_refused(slow_server: Server) -> None:
    uploads = [start_upload(slow_server, first=b"x" * 100) for _ in range(45)]
    try:
        time.sleep(1)  # all of them in the route, waiting for bytes
        refused = start_upload(slow_server)
        with contextlib.closing(refused):
            answer = answer_of(refused, 10)
        assert answer.startswith(b"HTTP/1.1 503 "), answer
        assert b"retry-after: 2" in answer.lower() and b"LADLE_MAX_UPLOADS" in answer
        # The 45 hold no worker thread: the routes that need one still answer.
        assert quick(slow_server, "GET", "/api/tags") < QUICK_S
        assert quick(slow_server, "POST", "/api/show", json={"model": "tiny"}) < QUICK_S
        assert quick(slow_server, "GET", "/api/ps") < QUICK_S
        assert quick(slow_server, "GET", "/api/version") < QUICK_S
    finally:
        for upload in uploads:
            upload.close()


def test_an_upload_its_client_abandons_is_one_line_in_the_log(server: Server) -> None:
    with contextlib.closing(start_upload(server, length=10**6, first=b"x" * 300_000)):
        time.sleep(0.5)
    line = f"POST /api/blobs/{DIGEST}: the client went away after"
    deadline = time.monotonic() + 10
    while line not in server.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = server.log()
    assert log.count(line) == 1 and "300,000 bytes; nothing kept" in log
    assert "Traceback" not in log
    assert list((server.models / ".ladle" / "tmp").iterdir()) == []
    assert quick(server, "GET", "/api/version") < QUICK_S
