"""Embeddings through a runner process, at the context's limit: a longer text is cut
leaving room for the tokens the model adds (BOS, EOS), or refused with Ollama's words;
a context too small for those tokens is refused, never embedded. Many texts are computed
a batch at a time: a cancel stops them within a batch, and generations go on between
batches."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import anyio
import gguf
import pytest

from ladle.errors import ContextOverflowError, InvalidRequestError
from runtime.protocol import GenerateRequest
from runtime.runner import RunnerProcess
from tests.fixtures.tiny_gguf import BOS_ID, EOS_ID

from .conftest import TEST_TIMEOUT_S, StartRunner, complete

pytestmark = pytest.mark.anyio

LONG = "hello world the world is " * 12


@pytest.fixture(scope="module")
def tiny_with_eos(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model, asking llama.cpp to add EOS to every text too (as BERT-like
    embedding models do)."""
    path = tmp_path_factory.mktemp("eos") / "tiny-eos.gguf"
    shutil.copyfile(tiny_model, path)
    reader = gguf.GGUFReader(path, "r+")
    reader.fields["tokenizer.ggml.add_eos_token"].parts[-1][0] = True
    del reader  # flushes the memory map
    return path


async def cut_to(runner: RunnerProcess, text: str, n_tokens: int, added: int) -> str:
    """The start of ``text`` that holds ``n_tokens`` tokens, the ``added`` ones included
    (checked: it tokenizes back to the same tokens)."""
    own = await runner.tokenize(text)
    own = own[1:-1] if added == 2 else own[1:]  # the tiny model's BOS (and EOS)
    cut = await runner.detokenize(own[: n_tokens - added])
    tokens = await runner.tokenize(cut)
    assert len(tokens) == n_tokens and tokens[0] == BOS_ID
    return cut


async def test_embeddings_are_pooled_normalised_and_counted(
    start: StartRunner, tiny_model: Path
) -> None:
    runner = await start(tiny_model, embedding=True)
    texts = ["hello world", "the world is", "hello world"]
    result = await runner.embed(texts)
    vectors = result.vectors
    assert [len(vector) for vector in vectors] == [64] * 3
    for vector in vectors:
        assert sum(x * x for x in vector) == pytest.approx(1.0)
    assert vectors[0] == pytest.approx(vectors[2])
    assert vectors[0] != pytest.approx(vectors[1])
    assert result.prompt_eval_count == sum([len(await runner.tokenize(t)) for t in texts])
    _, final = await complete(runner, GenerateRequest(prompt="hello", num_predict=4))
    assert final.done


async def test_a_long_text_is_cut_to_the_context_keeping_the_bos(
    start: StartRunner, tiny_model: Path
) -> None:
    runner = await start(tiny_model, embedding=True, n_ctx=16)
    assert len(await runner.tokenize(LONG)) > 16
    result = await runner.embed([LONG])
    assert result.prompt_eval_count == 16
    cut = await cut_to(runner, LONG, 16, added=1)
    assert result.vectors[0] == pytest.approx((await runner.embed([cut])).vectors[0], abs=1e-5)


async def test_a_long_text_is_cut_leaving_room_for_the_eos(
    start: StartRunner, tiny_with_eos: Path
) -> None:
    runner = await start(tiny_with_eos, embedding=True, n_ctx=16)
    tokens = await runner.tokenize("hello world")
    assert (tokens[0], tokens[-1]) == (BOS_ID, EOS_ID)
    result = await runner.embed([LONG])
    assert result.prompt_eval_count == 16
    cut = await cut_to(runner, LONG, 16, added=2)
    assert result.vectors[0] == pytest.approx((await runner.embed([cut])).vectors[0], abs=1e-5)


async def test_a_long_text_without_truncation_is_refused_in_ollamas_words(
    start: StartRunner, tiny_model: Path
) -> None:
    runner = await start(tiny_model, embedding=True, n_ctx=16)
    with pytest.raises(ContextOverflowError) as caught:
        await runner.embed(["hello", LONG], truncate=False)
    assert "the input length exceeds the context length" in str(caught.value)
    assert caught.value.n_ctx == 16 and caught.value.n_tokens > 16
    assert (await runner.embed(["hello"], truncate=False)).prompt_eval_count == 2
    assert runner.alive


@pytest.mark.parametrize(("model", "n_ctx"), [("tiny", 1), ("eos", 2)])
async def test_a_context_too_small_for_the_added_tokens_is_refused(
    start: StartRunner, tiny_model: Path, tiny_with_eos: Path, model: str, n_ctx: int
) -> None:
    runner = await start(
        tiny_model if model == "tiny" else tiny_with_eos, embedding=True, n_ctx=n_ctx
    )
    with pytest.raises(InvalidRequestError, match="exceeds maximum context length"):
        await runner.embed(["hello world"])
    assert runner.alive


# -- many texts: a batch at a time, cancellable -------------------------------------

MANY = ["hello world"] * 300_000
"""Far more texts than a test waits for: uncancelled, they hold the runner for minutes
(more than 20 s even at the tiny model's best speed, 0.1 ms a text)."""
SOON_S = 15.0
"""A bound for what takes one embedding batch (a second or two on a loaded machine)."""
ONE_THREAD = {"n_threads": 1}
"""llama.cpp's threads wait for each other spinning: on a small machine busy with other
work, two threads make a tiny model's decode up to a hundred times slower, one does not."""


async def test_texts_over_several_batches_come_back_in_order(
    start: StartRunner, tiny_model: Path
) -> None:
    runner = await start(tiny_model, embedding=True, n_ctx=256, n_batch=256)
    texts = [f"{LONG}{LONG} {n}" for n in range(6)]  # over 100 tokens each: two a batch
    together = await runner.embed(texts)
    alone = [(await runner.embed([text])).vectors[0] for text in texts]
    assert len(together.vectors) == len(texts)
    for vector, expected in zip(together.vectors, alone, strict=True):
        assert vector == pytest.approx(expected, abs=1e-5)
    counts = [len(await runner.tokenize(text)) for text in texts]
    assert together.prompt_eval_count == sum(counts)
    assert max(counts) > 256 // 3, "a batch holds two texts at most"
    assert (await runner.embed([])).vectors == []


async def test_a_cancelled_embedding_stops_within_a_batch(
    start: StartRunner, tiny_model: Path
) -> None:
    runner = await start(tiny_model, embedding=True, num_parallel=1, **ONE_THREAD)
    abandoned = asyncio.create_task(runner.embed(MANY))
    await asyncio.sleep(1.0)  # computing by now
    abandoned.cancel()
    started = time.monotonic()
    with anyio.fail_after(TEST_TIMEOUT_S):
        answer = await runner.embed(["hello"])
    assert time.monotonic() - started < SOON_S  # not after 300,000 texts
    assert len(answer.vectors) == 1 and runner.alive
    assert abandoned.cancelled()


async def test_a_generation_runs_beside_a_long_embedding(
    start: StartRunner, tiny_model: Path
) -> None:
    runner = await start(tiny_model, embedding=True, num_parallel=2, **ONE_THREAD)
    embedding = asyncio.create_task(runner.embed(MANY))
    await asyncio.sleep(0.5)
    started = time.monotonic()
    request = GenerateRequest(prompt="hello", num_predict=4, ignore_eos=True)
    _, final = await complete(runner, request)
    assert final.eval_count == 4
    assert time.monotonic() - started < SOON_S  # between batches, not after them all
    assert not embedding.done()
    embedding.cancel()
