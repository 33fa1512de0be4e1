"""Generation through a runner process, with the tiny model (random weights: the text is
noise, but it is deterministic noise, which is what these tests need)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ladle.errors import ContextOverflowError, InvalidRequestError, RunnerError
from runtime.protocol import AdapterSpec, GenerateRequest, SamplingOptions

from .conftest import StartRunner, collect, complete

pytestmark = pytest.mark.anyio

GREEDY = SamplingOptions(temperature=0)
PROMPT = "hello world the world is"


async def test_a_completion_streams_and_ends_with_its_counters(
    start: StartRunner, tiny_model: Path
) -> None:
    runner = await start(tiny_model)
    request = GenerateRequest(prompt=PROMPT, sampling=GREEDY, num_predict=12, ignore_eos=True)
    chunks = await collect(runner, request)
    final = chunks[-1]
    assert len(chunks) > 2
    assert final.done and final.done_reason == "length"
    assert final.eval_count == 12
    assert final.prompt_eval_count == len(await runner.tokenize(PROMPT))
    assert final.cached_tokens == 0
    assert final.prompt_eval_duration_ns > 0 and final.eval_duration_ns > 0
    assert runner.info.n_ctx_train == 256 and runner.info.total_layers == 2


async def test_the_same_seed_gives_the_same_text(start: StartRunner, tiny_model: Path) -> None:
    runner = await start(tiny_model)

    def request(seed: int) -> GenerateRequest:
        options = SamplingOptions(temperature=1.0, top_k=0, top_p=1.0, seed=seed)
        return GenerateRequest(prompt=PROMPT, sampling=options, num_predict=24, ignore_eos=True)

    first, _ = await complete(runner, request(7))
    again, _ = await complete(runner, request(7))
    other, _ = await complete(runner, request(8))
    assert first == again
    assert first != other


async def test_a_stop_string_split_across_tokens_ends_the_text_before_it(
    start: StartRunner, tiny_model: Path
) -> None:
    runner = await start(tiny_model)
    base = GenerateRequest(prompt=PROMPT, sampling=GREEDY, num_predict=30, ignore_eos=True)
    chunks = await collect(runner, base)
    text = "".join(chunk.text for chunk in chunks)
    pieces = [chunk.text for chunk in chunks if chunk.text]
    # A stop string made of the end of one piece and the start of the next.
    stop = pieces[4][-1:] + pieces[5][:2]
    expected = text[: text.find(stop)]
    stopped, final = await complete(runner, base.model_copy(update={"stop": (stop,)}))
    assert stopped == expected
    assert final.done_reason == "stop"


async def test_num_predict_limits_the_tokens(start: StartRunner, tiny_model: Path) -> None:
    runner = await start(tiny_model)
    for limit in (0, 1, 5):
        request = GenerateRequest(
            prompt=PROMPT, sampling=GREEDY, num_predict=limit, ignore_eos=True
        )
        _, final = await complete(runner, request)
        assert (final.eval_count, final.done_reason) == (limit, "length")


async def test_a_prompt_may_be_given_as_tokens(start: StartRunner, tiny_model: Path) -> None:
    runner = await start(tiny_model)
    tokens = tuple(await runner.tokenize(PROMPT))
    as_text = GenerateRequest(prompt=PROMPT, sampling=GREEDY, num_predict=8, ignore_eos=True)
    as_tokens = as_text.model_copy(update={"prompt": tokens})
    assert (await complete(runner, as_text))[0] == (await complete(runner, as_tokens))[0]
    assert await runner.detokenize(list(tokens)) == "<s> hello world the world is"


async def test_a_prompt_longer_than_the_context_is_an_error_unless_truncated(
    start: StartRunner, tiny_model: Path
) -> None:
    runner = await start(tiny_model, n_ctx=64)
    long_prompt = " ".join(["hello world"] * 60)
    request = GenerateRequest(prompt=long_prompt, sampling=GREEDY, num_predict=8, ignore_eos=True)
    with pytest.raises(ContextOverflowError) as caught:
        await complete(runner, request)
    assert caught.value.n_ctx == 64 and caught.value.n_tokens > 64
    _, final = await complete(runner, request.model_copy(update={"truncate": True}))
    assert final.eval_count == 8
    assert final.prompt_eval_count <= 64 - 8
    assert runner.alive


async def test_generation_stops_when_the_context_is_full_without_shift(
    start: StartRunner, tiny_model: Path
) -> None:
    runner = await start(tiny_model, n_ctx=32)
    request = GenerateRequest(prompt=PROMPT, sampling=GREEDY, ignore_eos=True, shift=False)
    _, final = await complete(runner, request)
    assert final.done_reason == "length"
    assert final.prompt_eval_count + final.eval_count == 32 + 1  # the last one is not evaluated


async def test_a_bad_grammar_or_token_is_refused(start: StartRunner, tiny_model: Path) -> None:
    runner = await start(tiny_model)
    with pytest.raises(InvalidRequestError, match="GBNF"):
        await complete(runner, GenerateRequest(prompt=PROMPT, grammar="root ::= ("))
    with pytest.raises(InvalidRequestError, match="vocabulary"):
        await complete(runner, GenerateRequest(prompt=(1, 99999)))
    assert runner.alive


async def test_embeddings_need_a_runner_loaded_for_them(
    start: StartRunner, tiny_model: Path
) -> None:
    runner = await start(tiny_model)
    with pytest.raises(InvalidRequestError, match="embeddings"):
        await runner.embed(["hello"])


async def test_adapters_load_with_their_scale(
    start: StartRunner, tiny_model: Path, tiny_lora: Path
) -> None:
    plain = await start(tiny_model)
    adapted = await start(tiny_model, adapters=(AdapterSpec(path=tiny_lora, scale=0.5),))
    request = GenerateRequest(prompt=PROMPT, sampling=GREEDY, num_predict=4, ignore_eos=True)
    assert (await complete(adapted, request))[1].eval_count == 4
    assert (await complete(plain, request))[1].eval_count == 4


async def test_a_missing_adapter_fails_the_load(
    start: StartRunner, tiny_model: Path, tmp_path: Path
) -> None:
    with pytest.raises(RunnerError, match="adapter"):
        await start(tiny_model, adapters=(AdapterSpec(path=tmp_path / "none.gguf"),))
