"""Continuous batching, cancellation and prefix reuse, with the tiny model."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from runtime.protocol import GenerateRequest, SamplingOptions

from .conftest import TEST_TIMEOUT_S, StartRunner, complete

pytestmark = pytest.mark.anyio

GREEDY = SamplingOptions(temperature=0)
PROMPTS = ["hello world", "the world is", "you and it", "it is the", "of the world", "in it"]


def greedy(prompt: str, num_predict: int = 16) -> GenerateRequest:
    return GenerateRequest(prompt=prompt, sampling=GREEDY, num_predict=num_predict, ignore_eos=True)


async def test_concurrent_streams_each_give_their_single_stream_text(
    start: StartRunner, tiny_model: Path
) -> None:
    alone = await start(tiny_model)
    expected = [(await complete(alone, greedy(prompt)))[0] for prompt in PROMPTS]
    shared = await start(tiny_model, num_parallel=4)  # 6 requests: 2 wait for a slot
    results: dict[int, str] = {}

    async def one(index: int) -> None:
        results[index] = (await complete(shared, greedy(PROMPTS[index])))[0]

    async with anyio.create_task_group() as group:
        for index in range(len(PROMPTS)):
            group.start_soon(one, index)
    assert [results[index] for index in range(len(PROMPTS))] == expected


async def test_a_cancelled_stream_leaves_the_others_going(
    start: StartRunner, tiny_model: Path
) -> None:
    runner = await start(tiny_model, num_parallel=3)
    finals = {}

    async def run_to_end(prompt: str) -> None:
        finals[prompt] = (await complete(runner, greedy(prompt, num_predict=120)))[1]

    with anyio.fail_after(TEST_TIMEOUT_S):
        async with anyio.create_task_group() as group:
            group.start_soon(run_to_end, PROMPTS[0])
            group.start_soon(run_to_end, PROMPTS[1])
            stream = runner.generate(greedy(PROMPTS[2], num_predict=10_000))
            for _ in range(3):
                await anext(stream)
            await stream.aclose()
            # Its slot is free again: a fourth request is served while the others run.
            _, final = await complete(runner, greedy(PROMPTS[3], num_predict=4))
            assert final.eval_count == 4
    assert [final.eval_count for final in finals.values()] == [120, 120]
    assert runner.alive


async def test_the_next_turn_of_a_chat_evaluates_only_its_new_tokens(
    start: StartRunner, tiny_model: Path
) -> None:
    runner = await start(tiny_model, num_parallel=2)
    first_turn = "the world is " * 12
    reply, first = await complete(runner, greedy(first_turn, num_predict=8))
    assert first.cached_tokens == 0
    await complete(runner, greedy("you and it", num_predict=4))  # another conversation
    second_turn = first_turn + reply + " hello world"
    _, second = await complete(runner, greedy(second_turn, num_predict=8))
    total = len(await runner.tokenize(second_turn))
    assert second.cached_tokens >= first.prompt_eval_count
    assert second.prompt_eval_count == total  # the whole prompt, cached or not
    assert second.prompt_evaluated == total - second.cached_tokens < 16


async def test_a_repeated_prompt_reuses_all_but_its_last_token(
    start: StartRunner, tiny_model: Path
) -> None:
    runner = await start(tiny_model, num_parallel=1)
    text, first = await complete(runner, greedy(PROMPTS[0]))
    again, second = await complete(runner, greedy(PROMPTS[0]))
    assert again == text
    assert first.cached_tokens == 0
    assert second.prompt_eval_count == first.prompt_eval_count  # the same count, twice
    assert (second.cached_tokens, second.prompt_evaluated) == (first.prompt_eval_count - 1, 1)
