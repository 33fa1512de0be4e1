"""The arithmetic of the serving benchmark: summaries, percentiles and rates (pure).

Every figure the serving benchmark reports is computed here, from timestamps a client
took, so that each system is measured by the same definitions:

* time to first token: request sent to first streamed token;
* decode rate: tokens after the first over the time from the first token to the last;
* prompt rate: prompt tokens over the time to the first token (the prompt's evaluation
  plus the first token's sampling and the transport, as a client sees it);
* a summary (:func:`summary`) is the median, the spread and the runs themselves.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

DIGITS = 4
"""Decimal places kept in the JSON: 0.1 ms on seconds, far below any figure's spread."""


def summary(runs: Sequence[float]) -> dict[str, Any]:
    """``{"median", "min", "max", "runs"}`` of ``runs`` (the report's STAT)."""
    if not runs:
        raise ValueError("a summary needs at least one run")
    kept = [round(float(run), DIGITS) for run in runs]
    return {
        "median": round(float(statistics.median(runs)), DIGITS),
        "min": min(kept),
        "max": max(kept),
        "runs": kept,
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between order statistics,
    numpy's default method, so that p99 of 16 latencies is not simply the largest."""
    if not values:
        raise ValueError("a percentile needs at least one value")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    weight = position - low
    return float(ordered[low] + (ordered[high] - ordered[low]) * weight)


@dataclass
class Stream:
    """One request as its client saw it, plus what the server said about it.

    ``stamps`` are the arrival times (``time.perf_counter``) of the chunks that carried
    text; ``tokens`` is the number of generated tokens (the server's count where it gives
    one: a chunk may carry more than one token when UTF-8 bytes are held back).
    """

    started: float
    stamps: list[float] = field(default_factory=list)
    finished: float = 0.0
    tokens: int = 0
    prompt_tokens: int = 0
    prompt_eval_s: float | None = None
    """The engine's own prompt-evaluation time, where the system reports one."""
    prompt_evaluated: int | None = None
    """The prompt tokens the engine evaluated (the others it reused from a cache), where
    the system reports them."""
    finish: str = ""
    """Why generation ended (``length`` when the token count was reached)."""
    text: str = ""

    @property
    def ttft_s(self) -> float:
        if not self.stamps:
            raise ValueError("the stream carried no token")
        return self.stamps[0] - self.started

    @property
    def latency_s(self) -> float:
        return self.finished - self.started

    @property
    def decode_tps(self) -> float:
        """Tokens after the first over the time between the first and the last chunk."""
        if self.tokens < 2 or len(self.stamps) < 2:
            raise ValueError("a decode rate needs at least two tokens in two chunks")
        return (self.tokens - 1) / (self.stamps[-1] - self.stamps[0])

    @property
    def prompt_tps(self) -> float:
        return self.prompt_tokens / self.ttft_s


def aggregate_tps(streams: Sequence[Stream], wall_s: float) -> float:
    """Tokens of all ``streams`` over the wall time of the whole batch."""
    if wall_s <= 0:
        raise ValueError("the batch took no time")
    return sum(stream.tokens for stream in streams) / wall_s


def per_turn_medians(rounds: Sequence[Sequence[float]]) -> list[float]:
    """Turn by turn, the median over rounds (every round has the same number of turns)."""
    if not rounds or len({len(turns) for turns in rounds}) != 1:
        raise ValueError("every round needs the same number of turns")
    return [round(float(statistics.median(turn)), DIGITS) for turn in zip(*rounds, strict=True)]
