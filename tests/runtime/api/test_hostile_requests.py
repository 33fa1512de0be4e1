"""Issue 16, items 1-4: no small request can freeze or exhaust ``ladle serve``.

Each hostile request of the issue is sent to a live server while another client asks
``/api/version`` every few milliseconds: 19 of 20 of those answers come within
:data:`ANSWER_WITHIN_S` and all within :data:`SLOWEST_WITHIN_S`, the hostile request
gets its 400 (naming the field at fault),
and the server's and runner's peak resident memory (``VmHWM``) stay within stated
bounds. Before the fix, the issue measured a 21.6 s render during which every route
waited, 504 -> 1,735 MB for one template, 610 MB (server) and 1.6 GB (runner) for one
168-byte schema.
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from bench.servers import process_tree
from builder.store.store import Store
from runtime.runner.schema_limits import MAX_ALTERNATIVES
from tests.fixtures.tiny_gguf import write_tiny_llama

from .conftest import MakeClient, build
from .test_live_server import Server, live_server

T = TypeVar("T")

ANSWER_WITHIN_S = 0.1
"""How long 19 of 20 answers of ``/api/version`` may take while a hostile request runs."""
SLOWEST_WITHIN_S = 0.5
"""How long any one answer may take: a quarter of the render deadline (2 s), so that a
loop held by the render fails, while one scheduling hiccup of a loaded 2-core machine
(118 ms once on CI) does not."""
SERVER_GROWTH_BOUND = 32 << 20
"""How far above its resident memory before a hostile request the server's peak during
it may go (the issue's template took it up by 1.2 GB; the bounded values are 1 MiB)."""
RUNNER_BOUND = 512 << 20
"""Peak resident memory of the tiny model's runner, the largest grammar included (the
issue's schema took a runner to 1.6 GB)."""
REFUSED_WITHIN_S = 1.0
"""A request refused before its work is done answers at once (milliseconds when idle)."""

POWER_TOWER = "{% set x = ((2**1024)**1024)**16 %}{% set y = x**256 %}{{ y > 1 }}"
DOUBLING = (
    "{% set ns = namespace(s='a') %}{% for i in range(27) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s|length }}"
)
UNTIL_THE_DEADLINE = (
    "{% for i in range(100000) %}{% for j in range(100000) %}"
    "{% set x = ('x' * 100000)|upper %}{% endfor %}{% endfor %}"
)
MANY_ITEMS = {"type": "array", "items": {"type": "string"}, "minItems": 10_000_000}


@pytest.fixture(scope="module")
def server(built_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A live server over the tiny models, and ``hostile-gguf``: a GGUF whose own chat
    template is the issue's power tower."""
    folder = tmp_path_factory.mktemp("hostile")
    store = Store(folder / "models")
    shutil.copytree(built_store, store.root)
    weights = write_tiny_llama(folder / "hostile.gguf", chat_template=POWER_TOWER)
    build(store, folder / "src", "hostile-gguf", f"FROM {weights}\nPARAMETER num_ctx 256\n")
    with live_server(built_store, folder) as served:
        yield served


class Probe:
    """Asks ``/api/version`` every few milliseconds, from its own thread and connection,
    and keeps how long each answer took."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                assert client.get("/api/version").status_code == 200
                self.latencies.append(time.perf_counter() - started)
                self._stop.wait(0.005)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def wait_for(self, answers: int) -> None:
        """Until ``answers`` more answers have come (before and after the hostile request:
        the probe covers it whole)."""
        target = len(self.latencies) + answers
        deadline = time.monotonic() + 30
        while len(self.latencies) < target and time.monotonic() < deadline:
            time.sleep(0.005)

    def check(self) -> None:
        latencies = sorted(self.latencies)
        slowest, typical = latencies[-1], latencies[(len(latencies) * 19) // 20]
        said = (
            f"/api/version took up to {slowest * 1000:.0f} ms (95th percentile "
            f"{typical * 1000:.1f} ms, median {statistics.median(latencies) * 1000:.1f} ms "
            f"over {len(latencies)})"
        )
        assert slowest < SLOWEST_WITHIN_S, said
        assert typical < ANSWER_WITHIN_S, said


def _memory(pid: int, field: str) -> int:
    """``VmHWM`` (the most resident memory since the last reset) or ``VmRSS`` (now) of
    ``pid``, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


def _peak_rss(pid: int) -> int:
    return _memory(pid, "VmHWM")


def _reset_peak(pid: int) -> int:
    """Start ``pid``'s peak afresh (Linux: ``5`` to ``clear_refs``), so that the peak
    after a request is that request's; the resident memory now."""
    with contextlib.suppress(OSError):  # then the peak since start stands in
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    return _memory(pid, "VmRSS")


def _runners(server: Server) -> list[int]:
    return [pid for pid in process_tree(server.process.pid) if pid != server.process.pid]


def _hostile(server: Server, send: Callable[[httpx.Client], T], copies: int = 1) -> list[T]:
    """``send`` (``copies`` at once) while probing ``/api/version``; the server's peak
    memory checked against its peak before."""
    with httpx.Client(base_url=server.url, timeout=120) as client:
        client.get("/api/version")
        before = _reset_peak(server.process.pid)
        with Probe(server.url) as probe, ThreadPoolExecutor(copies) as pool:
            probe.wait_for(3)
            answers = list(pool.map(lambda _: send(client), range(copies)))
            probe.wait_for(3)
    probe.check()
    grown = _peak_rss(server.process.pid) - before
    assert grown < SERVER_GROWTH_BOUND, f"the server's peak memory grew by {grown >> 20} MiB"
    return answers


def _generate(template: str) -> Callable[[httpx.Client], httpx.Response]:
    body = {"model": "tiny", "prompt": "hi", "template": template, "stream": False}
    return lambda client: client.post("/api/generate", json=body)


def _timed(
    send: Callable[[httpx.Client], httpx.Response],
) -> Callable[[httpx.Client], tuple[httpx.Response, float]]:
    def timed(client: httpx.Client) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        answer = send(client)
        return answer, time.monotonic() - started

    return timed


# -- item 1: rendering ------------------------------------------------------------------


def test_the_issues_power_tower_is_refused_at_once(server: Server) -> None:
    [(answer, took)] = _hostile(server, _timed(_generate(POWER_TOWER)))
    assert answer.status_code == 400
    assert "larger than 4096 bits" in answer.json()["error"]
    assert took < REFUSED_WITHIN_S


def test_the_power_tower_as_a_ggufs_chat_template_is_refused_at_once(server: Server) -> None:
    body = {
        "model": "hostile-gguf",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
    }
    [(answer, took)] = _hostile(server, _timed(lambda c: c.post("/api/chat", json=body)))
    assert answer.status_code == 400
    assert "larger than 4096 bits" in answer.json()["error"]
    assert took < REFUSED_WITHIN_S


def test_a_render_running_to_its_deadline_leaves_the_server_answering(server: Server) -> None:
    [answer] = _hostile(server, _generate(UNTIL_THE_DEADLINE))
    assert answer.status_code == 400
    assert "took longer than 2 s" in answer.json()["error"]


def test_five_renders_running_to_their_deadline_at_once(server: Server) -> None:
    """The issue's five at once held the event loop for 10 s."""
    answers = _hostile(server, _generate(UNTIL_THE_DEADLINE), copies=5)
    assert [answer.status_code for answer in answers] == [400] * 5


# -- item 2: intermediate values --------------------------------------------------------


def test_the_issues_doubling_string_is_refused(server: Server) -> None:
    [(answer, took)] = _hostile(server, _timed(_generate(DOUBLING)))
    assert answer.status_code == 400
    assert "exceed 1048576 characters" in answer.json()["error"]
    assert took < REFUSED_WITHIN_S


# -- item 3: one size rule for every way in ------------------------------------------------


def test_create_refuses_a_template_longer_than_a_modelfile(server: Server) -> None:
    """The issue's 30 MiB template, which /api/create took (the CLI stops at 2 MiB)."""
    body = {"model": "huge", "from": "tiny", "template": "x" * (30 << 20), "stream": False}
    with httpx.Client(base_url=server.url, timeout=120) as client:
        answer = client.post("/api/create", json=body)
        assert answer.status_code == 400
        assert answer.json()["error"].startswith("template: ")
        assert "at most 2 MiB" in answer.json()["error"]
        assert client.post("/api/show", json={"model": "huge"}).status_code == 404


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"system": "s" * (3 << 20)}, "system"),
        ({"template": "t" * (1 << 20), "system": "s" * (1 << 20) + "s" * 100}, "system"),
        ({"messages": [{"role": "user", "content": "m" * (1 << 20)}] * 3}, "messages"),
        ({"license": ["l" * (1 << 20), "l" * (1 << 20)], "system": "s" * 100}, "license"),
    ],
)
async def test_create_holds_all_its_text_to_the_modelfile_limit(
    make_client: MakeClient, fields: dict[str, Any], named: str
) -> None:
    """The rule counts every text a Modelfile would hold, and names the biggest."""
    client = await make_client()
    body = {"model": "huge", "from": "tiny", "stream": False, **fields}
    answer = await client.post("/api/create", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(f"{named}: the request's text is ")


@pytest.mark.anyio
async def test_create_takes_text_up_to_the_modelfile_limit(make_client: MakeClient) -> None:
    client = await make_client()
    body = {"model": "big", "from": "tiny", "system": "s" * ((2 << 20) - 1000), "stream": False}
    answer = await client.post("/api/create", json=body)
    assert answer.status_code == 200, answer.text


def test_a_request_template_longer_than_a_modelfile_is_refused(server: Server) -> None:
    """A GGUF's or a request's template too: the one rule is in the sandbox, where every
    template is compiled. (Not probed: a body of megabytes is parsed on the event loop,
    by the JSON middleware, before any route sees it.)"""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        answer, took = _timed(_generate("x" * ((2 << 20) + 1)))(client)
    assert answer.status_code == 400
    assert "at most 2,097,152" in answer.json()["error"]
    assert took < REFUSED_WITHIN_S


# -- item 4: grammars ------------------------------------------------------------------


def _formatted(path: str, format: Any) -> Callable[[httpx.Client], httpx.Response]:
    messages = [{"role": "user", "content": "hi"}]
    body: dict[str, Any] = {"model": "tiny", "format": format, "stream": False}
    body |= {"messages": messages} if path == "/api/chat" else {"prompt": "hi"}
    return lambda client: client.post(path, json=body)


@pytest.mark.parametrize("path", ["/api/generate", "/api/chat"])
def test_the_issues_168_byte_schema_is_refused_at_once(server: Server, path: str) -> None:
    [(answer, took)] = _hostile(server, _timed(_formatted(path, MANY_ITEMS)))
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("format: ")
    assert "minItems is 10,000,000" in answer.json()["error"]
    assert took < REFUSED_WITHIN_S


def test_a_100000_value_enum_is_refused_at_once(server: Server) -> None:
    schema = {"enum": [str(i) for i in range(100_000)]}
    [(answer, took)] = _hostile(server, _timed(_formatted("/api/chat", schema)))
    assert answer.status_code == 400 and answer.json()["error"].startswith("format: ")
    assert took < REFUSED_WITHIN_S


@pytest.mark.parametrize("path", ["/api/generate", "/api/chat"])
def test_a_schema_without_a_type_is_a_400_naming_format(server: Server, path: str) -> None:
    """The issue's ``{"foo": null}`` was an AssertionError in the converter: a 500."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        answer = _formatted(path, {"foo": None})(client)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("format: cannot turn this JSON schema")


def test_the_largest_grammar_allowed_runs_within_the_runners_bound(server: Server) -> None:
    """An enum at the alternatives' bound reaches the runner, which answers and stays
    within its memory bound."""
    schema = {"enum": [f"value-{i}" for i in range(MAX_ALTERNATIVES)]}
    body = {"model": "tiny", "prompt": "hi", "format": schema, "stream": False}
    body["options"] = {"num_predict": 8}
    with httpx.Client(base_url=server.url, timeout=120) as client:
        answer = client.post("/api/generate", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["response"].startswith('"value-')
    runners = _runners(server)
    assert runners
    for pid in runners:
        assert _peak_rss(pid) < RUNNER_BOUND
