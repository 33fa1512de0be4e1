"""The clients of the soak (:mod:`bench.soak`): valid ones, hostile ones, and a prober.

Each client picks its next action at random (seeded: a run repeats) until the deadline
and records how it ended in a :class:`Tally`: the HTTP status, or ``left`` when the
client itself gave up before an answer (that is the hostile action). A 5xx is counted
apart with an excerpt of its body: none may happen. The prober runs in a thread of its
own, so that its latencies are the server's, not this process's event loop's.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

LEFT = "left"
"""The outcome of a request its client gave up on (closed, timed out) on purpose."""
SHORT = {"num_predict": 16}
LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=0)
MANY_TEXTS = 20_000
TRICKLE_S = 15.0
"""How long a trickling upload keeps sending a byte a second (the server cuts it at 10)."""


@dataclass
class Tally:
    """What every client saw."""

    kinds: dict[str, Counter[str]] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    server_errors: int = 0
    examples: list[str] = field(default_factory=list)
    version_ms: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # the prober's thread too

    def saw(self, kind: str, outcome: int | str, text: str = "") -> None:
        with self._lock:
            self.kinds.setdefault(kind, Counter())[str(outcome)] += 1
            self.statuses[str(outcome)] += 1
            if isinstance(outcome, int) and outcome >= 500:
                self.server_errors += 1
                self.examples.append(f"{kind}: {outcome} {text[:200]}")


Action = Callable[[httpx.AsyncClient, Tally], Awaitable[None]]


# -- valid traffic -------------------------------------------------------------------


async def generate_stream(http: httpx.AsyncClient, tally: Tally) -> None:
    body = {"model": "soak", "prompt": "Name a colour.", "options": SHORT}
    async with http.stream("POST", "/api/generate", json=body) as answer:
        lines = [line async for line in answer.aiter_lines() if line.strip()]
    done = answer.status_code == 200 and '"done":true' in lines[-1]
    tally.saw("generate, streamed", answer.status_code if done else f"{answer.status_code} cut")


async def generate_whole(http: httpx.AsyncClient, tally: Tally) -> None:
    body = {"model": "soak", "prompt": "Say hi.", "stream": False, "options": SHORT}
    answer = await http.post("/api/generate", json=body)
    tally.saw("generate, whole", answer.status_code, answer.text)


async def chat(http: httpx.AsyncClient, tally: Tally) -> None:
    messages = [{"role": "user", "content": "What is 2 + 2?"}]
    body = {"model": "soak", "messages": messages, "stream": False, "options": SHORT}
    answer = await http.post("/api/chat", json=body)
    tally.saw("chat, whole", answer.status_code, answer.text)


async def openai_stream(http: httpx.AsyncClient, tally: Tally) -> None:
    messages = [{"role": "user", "content": "Count to three."}]
    body = {"model": "soak", "messages": messages, "max_tokens": 16, "stream": True}
    async with http.stream("POST", "/v1/chat/completions", json=body) as answer:
        lines = [line async for line in answer.aiter_lines() if line.strip()]
    done = answer.status_code == 200 and lines[-1] == "data: [DONE]"
    tally.saw("chat completion, streamed", answer.status_code if done else "cut")


async def embed(http: httpx.AsyncClient, tally: Tally) -> None:
    body = {"model": "soak-embed", "input": ["red", "green", "blue", "a colour"]}
    answer = await http.post("/api/embed", json=body)
    tally.saw("embed", answer.status_code, answer.text)


async def catalog(http: httpx.AsyncClient, tally: Tally) -> None:
    for method, path, body in (
        ("GET", "/api/tags", None),
        ("POST", "/api/show", {"model": "soak"}),
        ("GET", "/api/ps", None),
    ):
        answer = await http.request(method, path, json=body)
        tally.saw(f"{method} {path}", answer.status_code, answer.text)


VALID: tuple[Action, ...] = (generate_stream, generate_whole, chat, openai_stream, embed, catalog)


# -- hostile traffic -----------------------------------------------------------------


async def abandon_stream(http: httpx.AsyncClient, tally: Tally) -> None:
    body = {"model": "soak", "prompt": "Tell a long story.", "options": {"num_predict": 400}}
    async with http.stream("POST", "/api/generate", json=body) as answer:
        async for _ in answer.aiter_lines():
            break  # one line, then gone
    tally.saw("stream abandoned after a line", LEFT)


async def give_up_waiting(http: httpx.AsyncClient, tally: Tally) -> None:
    body = {
        "model": "soak",
        "prompt": "Think hard.",
        "stream": False,
        "options": {"num_predict": 200},
    }
    try:
        answer = await http.post("/api/generate", json=body, timeout=0.3)
    except httpx.TimeoutException:
        tally.saw("whole answer given up after 0.3 s", LEFT)
        return
    tally.saw("whole answer given up after 0.3 s", answer.status_code, answer.text)


async def abandon_embedding(http: httpx.AsyncClient, tally: Tally) -> None:
    body = {"model": "soak-embed", "input": ["some text to embed"] * MANY_TEXTS}
    try:
        answer = await http.post("/api/embed", json=body, timeout=1.0)
    except httpx.TimeoutException:
        tally.saw(f"embedding of {MANY_TEXTS:,} texts abandoned after 1 s", LEFT)
        return
    tally.saw(f"embedding of {MANY_TEXTS:,} texts abandoned after 1 s", answer.status_code)


async def refused(http: httpx.AsyncClient, tally: Tally) -> None:
    """Requests that must be refused with a 4xx: not JSON, unknown model, bad option,
    bytes that do not hash to their digest."""
    cases = (
        ("body that is not JSON", "/api/generate", {"content": b"{not json"}),
        ("unknown model", "/api/generate", {"json": {"model": "nope", "prompt": "hi"}}),
        (
            "bad option",
            "/api/chat",
            {"json": {"model": "soak", "messages": [], "options": {"num_ctx": -5}}},
        ),
        ("blob of other bytes", "/api/blobs/sha256:" + "0" * 64, {"content": b"abc"}),
    )
    for kind, path, body in cases:
        answer = await http.post(path, **body)
        tally.saw(kind, answer.status_code, answer.text)


async def raw_request(url: str, head: str, body: bytes, pace_s: float | None) -> str:
    """Send ``head`` and ``body`` on a socket; with ``pace_s``, a byte more every
    ``pace_s`` seconds for :data:`TRICKLE_S`, else close at once. The status, or LEFT."""
    address = urlsplit(url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(head.replace("{host}", address.netloc).encode() + body)
        await writer.drain()
        deadline = time.monotonic() + (TRICKLE_S if pace_s is not None else 0.2)
        while time.monotonic() < deadline:
            try:
                line = await asyncio.wait_for(reader.readline(), pace_s or 0.2)
                return line.split()[1].decode() if line else LEFT
            except TimeoutError:
                if pace_s is not None:
                    writer.write(b"x")
                    await writer.drain()
        return LEFT
    finally:
        writer.close()


async def uploads(url: str, tally: Tally) -> None:
    """A trickling upload (cut off by the server: 408), one cut short by its client, and
    headers declaring a body over the size limit (413 before a byte is read)."""
    upload = "POST /api/blobs/sha256:" + "ab" * 32 + " HTTP/1.1\r\nHost: {host}\r\n"
    trickle = await raw_request(url, upload + "Content-Length: 10000000\r\n\r\n", b"x", 1.0)
    tally.saw("upload trickling a byte a second", _status(trickle))
    cut = await raw_request(url, upload + "Content-Length: 10000000\r\n\r\n", b"x" * 100_000, None)
    tally.saw("upload cut short by its client", _status(cut))
    big = "POST /api/chat HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100000000\r\n\r\n"
    tally.saw("body over the size limit", _status(await raw_request(url, big, b"{", None)))


def _status(outcome: str) -> int | str:
    return int(outcome) if outcome.isdigit() else outcome


HOSTILE: tuple[Action, ...] = (abandon_stream, give_up_waiting, abandon_embedding, refused)


# -- the clients ---------------------------------------------------------------------


async def valid_client(url: str, tally: Tally, deadline: float, seed: int) -> None:
    await _client(url, tally, deadline, random.Random(seed), VALID, uploads_too=False)


async def hostile_client(url: str, tally: Tally, deadline: float, seed: int) -> None:
    await _client(url, tally, deadline, random.Random(1000 + seed), HOSTILE, uploads_too=True)


async def _client(
    url: str,
    tally: Tally,
    deadline: float,
    chance: random.Random,
    actions: tuple[Action, ...],
    *,
    uploads_too: bool,
) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=LIMITS) as http:
        while time.monotonic() < deadline:
            if uploads_too and chance.random() < 0.15:
                await uploads(url, tally)
                continue
            try:
                await chance.choice(actions)(http, tally)
            except httpx.HTTPError as error:  # the server broke a connection: a failure
                tally.saw("transport error", 599, f"{type(error).__name__}: {error}")


async def prober(url: str, tally: Tally, deadline: float, every_s: float) -> None:
    """``GET /api/version`` every ``every_s`` until ``deadline``, from a thread."""
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            while not stop.is_set() and time.monotonic() < deadline:
                started = time.perf_counter()
                answer = http.get("/api/version")
                tally.version_ms.append((time.perf_counter() - started) * 1000)
                tally.saw("GET /api/version (probe)", answer.status_code, answer.text)
                stop.wait(every_s)

    try:
        await asyncio.to_thread(probe)
    finally:
        stop.set()
