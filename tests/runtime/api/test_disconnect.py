"""A client that closes a stream, or gives up waiting for a whole answer, cancels its
work: a generation stops at its next token, an embedding after its current batch, a
request still queued gives its place up; the request is counted (and logged) as 499,
and the server keeps serving (``/api/version`` answers meanwhile).

Against a live ``ladle serve`` with one parallel sequence, so that work still running in
the runner would hold up the next request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from builder.store.store import Store
from tests.fixtures.installed import require_bundled_model

from .conftest import build
from .long_model import ENDLESS, build_long
from .test_live_server import Server, live_server

LONG = {"num_predict": 100_000}
"""Far more tokens than the tiny model's context (256): uncancelled, it fills the context."""
SETTLE_S = 10.0


@pytest.fixture(scope="module")
def served(built_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    one_sequence = {"LADLE_NUM_PARALLEL": "1"}
    with live_server(built_store, tmp_path_factory.mktemp("disconnect"), one_sequence) as server:
        yield server


def metric(server: Server, name: str, **labels: str) -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def wait_for(condition: object, what: str) -> float:
    """Seconds until ``condition()`` holds (fails after :data:`SETTLE_S`)."""
    started = time.monotonic()
    while time.monotonic() - started < SETTLE_S:
        if condition():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"{what} did not happen within {SETTLE_S} s")


def read_then_close(server: Server, path: str, body: dict[str, object], pieces: int) -> list[str]:
    """Open a stream, read ``pieces`` lines of it, close the connection."""
    read: list[str] = []
    with (
        httpx.Client(timeout=60) as client,
        client.stream("POST", f"{server.url}{path}", json=body) as answer,
    ):
        assert answer.status_code == 200
        for line in answer.iter_lines():
            if line.strip():
                read.append(line)
            if len(read) == pieces:
                break
    return read


@pytest.mark.parametrize(
    ("path", "body", "route"),
    [
        (
            "/api/generate",
            {"model": "tiny", "prompt": "hello", "options": LONG},
            "/api/generate",
        ),
        (
            "/v1/chat/completions",
            {
                "model": "tiny",
                "messages": [{"role": "user", "content": "hello"}],
                "max_tokens": LONG["num_predict"],
                "stream": True,
            },
            "/v1/chat/completions",
        ),
    ],
    ids=["ollama-ndjson", "openai-sse"],
)
def test_closing_a_stream_cancels_its_generation(
    served: Server, path: str, body: dict[str, object], route: str
) -> None:
    closed_before = metric(served, "ladle_http_requests_total", route=route, status="499")
    read = read_then_close(served, path, body, pieces=3)
    closed = time.monotonic()
    assert len(read) == 3 and '"done":true' not in "".join(read)
    wait_for(lambda: metric(served, "ladle_generations_active") == 0, "the generation's end")
    counted = lambda: metric(served, "ladle_http_requests_total", route=route, status="499")  # noqa: E731
    wait_for(lambda: counted() == closed_before + 1, "the 499")
    # The runner's one sequence is free: a generation still running there would hold the
    # next request up until the context is full (wall times on a shared CI machine vary
    # too much to hold it to a tighter bound than SETTLE_S).
    answer = httpx.post(
        f"{served.url}/api/generate",
        json={"model": "tiny", "prompt": "again", "stream": False, "options": {"num_predict": 4}},
        timeout=60,
    )
    assert answer.status_code == 200 and answer.json()["eval_count"] == 4
    assert time.monotonic() - closed < SETTLE_S
    assert metric(served, "ladle_http_requests_total", route="/api/generate", status="200") >= 1
    assert f"{route}: the client went away; cancelled (499)" in served.log()


def test_a_client_that_gives_up_on_a_whole_answer_cancels_it(served: Server) -> None:
    # "stream": false writes nothing until the end; the server must notice the client
    # leaving all the same. SmolLM2 at ~100 tokens/s: 4,000 tokens take most of a minute.
    require_bundled_model("smollm2:135m")
    build(Store(served.models), served.models.parent / "src", "smol", "FROM smollm2:135m\n")
    url = f"{served.url}/api/generate"
    short = {"model": "smol", "prompt": "hi", "stream": False, "options": {"num_predict": 1}}
    assert httpx.post(url, json=short, timeout=60).status_code == 200  # loaded
    before = metric(served, "ladle_http_requests_total", route="/api/generate", status="499")
    long: dict[str, object] = {"num_predict": 4000, "ignore_eos": True, "num_ctx": 4096}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url, json={**short, "prompt": "Count.", "options": long}, timeout=1.5)
    wait_for(lambda: metric(served, "ladle_generations_active") == 0, "the generation's end")
    route = {"route": "/api/generate", "status": "499"}
    wait_for(lambda: metric(served, "ladle_http_requests_total", **route) == before + 1, "the 499")
    started = time.monotonic()
    answer = httpx.post(url, json={**short, "options": {"num_predict": 4}}, timeout=60)
    assert answer.status_code == 200 and answer.json()["eval_count"] == 4
    assert time.monotonic() - started < SETTLE_S  # the one sequence was free again


# -- work that is abandoned before it runs, and work of every kind ----------------------

VERSION_LIMIT_S = 1.0
"""How long /api/version may take while hostile work runs (the soak in ``make bench``
holds it to 50 ms at the 99th percentile; a shared CI machine is given more room)."""


def version_times(server: Server, samples: int = 10) -> list[float]:
    """Seconds each of ``samples`` ``/api/version`` requests took."""
    times = []
    for _ in range(samples):
        started = time.monotonic()
        assert httpx.get(f"{server.url}/api/version", timeout=10).status_code == 200
        times.append(time.monotonic() - started)
        time.sleep(0.05)
    return times


def test_a_queued_stream_that_disconnects_gives_up_its_place(served: Server) -> None:
    url = f"{served.url}/api/generate"
    long = {"model": build_long(served.models), "prompt": "hello", "options": ENDLESS}
    with (
        httpx.Client(timeout=60) as client,
        client.stream("POST", url, json=long) as holder,  # the one sequence, for long
    ):
        lines = holder.iter_lines()  # kept: closing it would close the connection
        assert holder.status_code == 200 and next(lines)
        queued = {**long, "prompt": "me next"}
        for _ in range(3):  # they wait for the first piece, then give up
            with pytest.raises(httpx.ReadTimeout):
                early = httpx.post(url, json=queued, timeout=1.5)
                pytest.fail(f"answered while the one sequence was busy: {early.text[:300]}")
        wait_for(lambda: metric(served, "ladle_queue_depth") == 0, "the ghosts leaving")
        assert max(version_times(served)) < VERSION_LIMIT_S
    answer = httpx.post(url, json={**long, "stream": False, "options": {"num_predict": 2}})
    assert answer.status_code == 200


def test_an_abandoned_embedding_stops_and_the_next_one_runs(served: Server) -> None:
    url = f"{served.url}/api/embed"
    one_thread = {"num_thread": 1}  # llama.cpp's two threads crawl on a busy machine
    many = {"model": "tiny", "input": ["hello world"] * 300_000, "options": one_thread}
    with ThreadPoolExecutor(1) as pool:
        abandoned = pool.submit(httpx.post, url, json=many, timeout=6)
        time.sleep(3)  # read, loaded, computing
        assert max(version_times(served)) < VERSION_LIMIT_S
        with pytest.raises(httpx.ReadTimeout):
            abandoned.result()
    started = time.monotonic()
    one = {"model": "tiny", "input": ["hello"], "options": one_thread}
    answer = httpx.post(url, json=one, timeout=60)
    assert answer.status_code == 200 and len(answer.json()["embeddings"]) == 1
    assert time.monotonic() - started < SETTLE_S  # one batch, not 300,000 texts
    assert "/api/embed: the client went away; cancelled (499)" in served.log()
