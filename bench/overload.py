"""Overload: many clients against a ``ladle serve`` with a short queue (issue 8's speed).

``clients`` asyncio clients share a budget of ``requests`` short, non-streamed
``/api/generate`` requests. A request the server takes must complete (HTTP 200, ``done``,
the tokens asked for); one it cannot take must be refused at once with 503 and a
``Retry-After`` header. A refused client waits as long as Retry-After says, as a polite
client does (:data:`NO_RETRY_AFTER_WAIT_S` when the header is missing, which is counted),
and sends its next request. After every response the
server's RSS (process tree, ``/proc``) is sampled, so that the mean over the first and
the last ``window`` responses says whether memory grows with the requests served.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.http_systems import LadleApi
from bench.servers import MIB, rss_bytes
from bench.stats import percentile

OVERLOAD_TOKENS = 8
NO_RETRY_AFTER_WAIT_S = 1.0


@dataclass
class Tally:
    """What the clients saw, in the order responses arrived."""

    accepted: int = 0
    rejected: int = 0
    completed: int = 0
    failed: int = 0
    retry_after_seen: bool = False
    rejected_without_retry_after: int = 0
    reject_latencies: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def summary(self, clients: int, max_queue: int, requests: int, window: int) -> dict[str, Any]:
        head, tail = self.rss[:window], self.rss[-window:]
        result: dict[str, Any] = {
            "clients": clients,
            "max_queue": max_queue,
            "requests": requests,
            "accepted": self.accepted,
            "rejected_503": self.rejected,
            "completed": self.completed,
            "failed": self.failed,
            "retry_after_seen": self.retry_after_seen,
            "rejected_without_retry_after": self.rejected_without_retry_after,
            "rss_window": window,
            "rss_mib_first_100": round(statistics.mean(head) / MIB, 1) if head else 0.0,
            "rss_mib_last_100": round(statistics.mean(tail) / MIB, 1) if tail else 0.0,
        }
        if self.reject_latencies:
            result["reject_latency_p50_s"] = round(percentile(self.reject_latencies, 50), 4)
            result["reject_latency_max_s"] = round(max(self.reject_latencies), 4)
        if self.failures:
            result["failures"] = sorted(set(self.failures))[:5]
        return result


def retry_after_s(value: str | None) -> float:
    """Seconds a ``Retry-After`` header asks for (delta-seconds; anything else: the
    default wait)."""
    try:
        return max(0.0, float(value)) if value is not None else NO_RETRY_AFTER_WAIT_S
    except ValueError:
        return NO_RETRY_AFTER_WAIT_S


async def _client(api: LadleApi, budget: list[int], tally: Tally, prompt: str) -> None:
    body = {
        "model": api.image,
        "prompt": prompt,
        "raw": True,
        "stream": False,
        "options": api.options(OVERLOAD_TOKENS),
        "keep_alive": "-1",
    }
    while budget[0] > 0:
        budget[0] -= 1
        started = time.perf_counter()
        try:
            answer = await api.http.post("/api/generate", json=body)
        except httpx.HTTPError as error:
            tally.failed += 1
            tally.failures.append(type(error).__name__)
            continue
        finally:
            tally.rss.append(rss_bytes(api.server.pid))
        if answer.status_code == 503:
            tally.rejected += 1
            tally.reject_latencies.append(time.perf_counter() - started)
            if "retry-after" in answer.headers:
                tally.retry_after_seen = True
            else:
                tally.rejected_without_retry_after += 1
            await asyncio.sleep(retry_after_s(answer.headers.get("retry-after")))
            continue
        tally.accepted += 1 if answer.status_code == 200 else 0
        done = answer.status_code == 200 and answer.json().get("done")
        if done and answer.json().get("eval_count") == OVERLOAD_TOKENS:
            tally.completed += 1
        else:
            tally.failed += 1
            tally.failures.append(f"HTTP {answer.status_code}: {answer.text[:120]}")


async def overload(
    api: LadleApi, *, clients: int, requests: int, max_queue: int, window: int
) -> dict[str, Any]:
    """Run the overload against ``api`` (opened with ``LADLE_MAX_QUEUE=max_queue``)."""
    prompts = [f"Client {index} asks: what is the weather like today?" for index in range(clients)]
    await api.stream(prompts[0], 2)  # load the model first: the test is of the queue
    tally, budget = Tally(), [requests]
    started = time.perf_counter()
    await asyncio.gather(*(_client(api, budget, tally, p) for p in prompts))
    result = tally.summary(clients, max_queue, requests, window)
    result |= {
        "wall_s": round(time.perf_counter() - started, 2),
        "client_wait": "Retry-After",
        "n_predict": OVERLOAD_TOKENS,
    }
    return result
