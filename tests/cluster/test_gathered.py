"""A replica's stream to the ingress: chunks gathered per interval (runtime.cluster.pool)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ladle.errors import RunnerError
from runtime.cluster.pool import gathered
from runtime.protocol import GenerateChunk


async def paced(
    pieces: list[tuple[float, GenerateChunk]], fail: bool = False
) -> AsyncIterator[GenerateChunk]:
    for delay, chunk in pieces:
        await asyncio.sleep(delay)
        yield chunk
    if fail:
        raise RunnerError("the runner died", model="tiny")


def chunk(text: str, done: bool = False) -> GenerateChunk:
    return GenerateChunk(text=text, done=done)


def texts(batches: list[list[GenerateChunk]]) -> list[list[str]]:
    return [[piece.text for piece in batch] for batch in batches]


async def collect(stream: AsyncIterator[list[GenerateChunk]]) -> list[list[GenerateChunk]]:
    return [batch async for batch in stream]


def test_the_first_chunk_goes_alone_and_the_rest_in_windows() -> None:
    pieces = [(0.0, chunk("a")), *((0.005, chunk(c)) for c in "bcdefgh"), (0.005, chunk("", True))]
    batches = asyncio.run(collect(gathered(paced(pieces), 0.05)))
    assert texts(batches)[0] == ["a"]
    assert "".join("".join(batch) for batch in texts(batches)) == "abcdefgh"
    assert len(batches) < len(pieces) - 3, texts(batches)
    assert batches[-1][-1].done


def test_no_interval_sends_each_chunk_alone() -> None:
    pieces = [(0.001, chunk(c)) for c in "abc"] + [(0.001, chunk("", True))]
    batches = asyncio.run(collect(gathered(paced(pieces), 0)))
    assert texts(batches) == [["a"], ["b"], ["c"], [""]]


def test_a_failure_comes_after_the_chunks_before_it() -> None:
    received: list[list[str]] = []

    async def run() -> None:
        async for batch in gathered(paced([(0, chunk("a")), (0, chunk("b"))], fail=True), 0.01):
            received.append([piece.text for piece in batch])

    with pytest.raises(RunnerError, match="the runner died"):
        asyncio.run(run())
    assert [text for batch in received for text in batch] == ["a", "b"]


def test_closing_the_batches_stops_the_stream() -> None:
    stopped = asyncio.Event()

    async def endless() -> AsyncIterator[GenerateChunk]:
        try:
            while True:
                await asyncio.sleep(0.001)
                yield chunk("x")
        finally:
            stopped.set()

    async def run() -> None:
        batches = gathered(endless(), 0.01)
        await anext(batches)
        await batches.aclose()  # the client went away: Ray closes the replica's generator
        await asyncio.wait_for(stopped.wait(), 1)

    asyncio.run(run())
