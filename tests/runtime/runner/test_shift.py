"""Context shift (:mod:`runtime.runner.shift`): its rule, and generation past the end of
the context with the tiny model, in a runner process and, to see the sequence's cache,
in this process (an :class:`Engine` stepped by hand)."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from pathlib import Path

import anyio
import llama_cpp as llama
import numpy as np
import numpy.typing as npt
import pytest

from runtime.protocol import GenerateRequest, LoadSpec, SamplingOptions
from runtime.runner.engine import Engine, Job, Slot
from runtime.runner.native import Batch, LlamaLog, LlamaModel
from runtime.runner.shift import (
    MAX_PREDICT_CONTEXTS,
    discarded_tokens,
    kept_tokens,
    predict_limit,
)

from .conftest import TEST_TIMEOUT_S, StartRunner, complete

GREEDY = SamplingOptions(temperature=0)
PROMPT = "hello world the world is"
N_CTX = 64
_SILENT_LOG = llama.llama_log_callback(lambda _level, _text, _data: None)
"""Put back in place of a test's :class:`LlamaLog` (llama.cpp keeps calling its log)."""


def greedy(prompt: str, num_predict: int, **fields: object) -> GenerateRequest:
    return GenerateRequest(
        prompt=prompt, sampling=GREEDY, num_predict=num_predict, ignore_eos=True, **fields
    )


# The rule


def test_a_shift_frees_half_of_the_context_after_the_kept_tokens() -> None:
    assert discarded_tokens(64, keep=4, n_ctx=64) == 30
    assert discarded_tokens(64, keep=0, n_ctx=64) == 32
    assert discarded_tokens(64, keep=63, n_ctx=64) == 1  # always at least one
    assert discarded_tokens(50, keep=4, n_ctx=64) == 16  # 14 already free
    assert discarded_tokens(20, keep=4, n_ctx=64) == 0


def test_num_keep_counts_after_the_bos_and_leaves_one_token_to_drop() -> None:
    assert kept_tokens(4, [1, 7, 8, 9, 10, 11], bos=1, n_ctx=64) == 5
    assert kept_tokens(4, [7, 8, 9, 10, 11], bos=1, n_ctx=64) == 4  # no BOS first
    assert kept_tokens(4, [1, 7, 8], bos=None, n_ctx=64) == 4
    assert kept_tokens(-1, [1, 7, 8], bos=1, n_ctx=64) == 3  # the whole prompt
    assert kept_tokens(100, [1, 7], bos=1, n_ctx=64) == 63


def test_num_predict_is_capped_at_ten_contexts() -> None:
    assert predict_limit(-1, 64) == MAX_PREDICT_CONTEXTS * 64
    assert predict_limit(10_000, 64) == MAX_PREDICT_CONTEXTS * 64
    assert predict_limit(0, 64) == 0
    assert predict_limit(200, 64) == 200


# In a runner process

on_anyio = pytest.mark.anyio


@on_anyio
async def test_generation_goes_past_the_context_end_by_shifting(
    start: StartRunner, tiny_model: Path
) -> None:
    runner = await start(tiny_model, n_ctx=N_CTX)
    shifted_text, shifted = await complete(runner, greedy(PROMPT, 150))
    assert shifted.done_reason == "length"  # num_predict's
    assert shifted.eval_count == 150 > N_CTX - shifted.prompt_eval_count

    text, final = await complete(runner, greedy(PROMPT, 150, shift=False))
    assert final.done_reason == "length"  # the context's end
    assert final.prompt_eval_count + final.eval_count == N_CTX + 1  # the last not evaluated
    assert shifted_text.startswith(text)  # the same tokens up to the context's end
    assert runner.alive


@on_anyio
async def test_without_num_predict_a_shifting_generation_stops_at_ten_contexts(
    start: StartRunner, tiny_model: Path
) -> None:
    runner = await start(tiny_model, n_ctx=16)
    _, final = await complete(runner, greedy(PROMPT, -1))
    assert (final.eval_count, final.done_reason) == (MAX_PREDICT_CONTEXTS * 16, "length")


@on_anyio
async def test_other_sequences_are_served_during_and_after_shifts(
    start: StartRunner, tiny_model: Path
) -> None:
    runner = await start(tiny_model, n_ctx=N_CTX, num_parallel=2)
    short = greedy("you and it", 12)
    alone, _ = await complete(runner, short)
    long_done = anyio.Event()
    finals = []

    async def long() -> None:
        finals.append((await complete(runner, greedy(PROMPT, 600)))[1])
        long_done.set()

    with anyio.fail_after(TEST_TIMEOUT_S):
        async with anyio.create_task_group() as group:
            group.start_soon(long)
            beside = [(await complete(runner, short))[0] for _ in range(3)]
            assert not long_done.is_set()  # they ran while it shifted
    assert beside == [alone] * 3
    assert finals[0].eval_count == 600
    assert (await complete(runner, short))[0] == alone


# In process: the sequence's cache


@pytest.fixture
def model(tiny_model: Path) -> Iterator[LlamaModel]:
    spec = LoadSpec(model_path=tiny_model, n_ctx=N_CTX, num_parallel=2, n_threads=2)
    log = LlamaLog()  # llama.cpp calls it until the process ends: keep it alive
    loaded = LlamaModel(spec, log)
    yield loaded
    loaded.close()
    llama.llama_log_set(_SILENT_LOG, ctypes.c_void_p(0))


def step_until_shifted(engine: Engine) -> tuple[Job, Slot, list[int]]:
    """Step the one job until a shift; its slot and what its cache held just before."""
    for _ in range(4 * N_CTX):
        engine.step()
        slot = next(slot for slot in engine.slots if slot.job is not None)
        job = slot.job
        assert job is not None
        held = job.prompt + job.output[:-1]  # the last token is not evaluated yet
        if len(slot.tokens) < len(held):
            return job, slot, held
    raise AssertionError("no shift")


def reference_logits(
    model: LlamaModel, seq_id: int, held: list[int], kept: list[int], shifted: bool
) -> npt.NDArray[np.float32]:
    """The logits after ``kept`` in an empty sequence, as llama.cpp gives them: with
    ``shifted``, ``held`` evaluated and then cut and moved by llama.cpp's own calls (the
    kept tokens' deeper keys and values still saw the dropped ones, so this is not the
    same as evaluating ``kept`` alone); otherwise ``kept`` evaluated from position 0."""
    batch = Batch(len(held) + len(kept))
    try:
        if shifted:
            *before, last = kept
            keep = next(i for i, (a, b) in enumerate(zip(held, before, strict=False)) if a != b)
            discard = len(held) - len(before)
            _decode(model, batch, seq_id, held, 0, logits_last=False)
            assert llama.llama_memory_seq_rm(model.memory, seq_id, keep, keep + discard)
            llama.llama_memory_seq_add(model.memory, seq_id, keep + discard, -1, -discard)
            return _decode(model, batch, seq_id, [last], len(before), logits_last=True)
        return _decode(model, batch, seq_id, kept, 0, logits_last=True)
    finally:
        model.forget(seq_id)
        batch.close()


def _decode(
    model: LlamaModel,
    batch: Batch,
    seq_id: int,
    tokens: list[int],
    start: int,
    *,
    logits_last: bool,
) -> npt.NDArray[np.float32]:
    batch.clear()
    for offset, token in enumerate(tokens):
        batch.add(token, start + offset, seq_id, logits_last and offset == len(tokens) - 1)
    assert model.decode(batch) == 0
    return logits(model, len(tokens) - 1) if logits_last else np.zeros(0, np.float32)


def logits(model: LlamaModel, index: int) -> npt.NDArray[np.float32]:
    pointer = llama.llama_get_logits_ith(model.ctx, index)
    values = ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float * model.n_vocab)).contents
    return np.array(values, dtype=np.float32)


@pytest.mark.parametrize("movable", [True, False], ids=["cache-moved", "evaluated-again"])
def test_a_shift_keeps_num_keep_tokens_and_continues_as_llama_cpp_would(
    model: LlamaModel, movable: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not movable:  # as for a model whose cache positions cannot move
        monkeypatch.setattr(LlamaModel, "can_shift", property(lambda _: False))
    engine = Engine(model)
    try:
        engine.submit(1, greedy(PROMPT, 200, num_keep=3))
        job, slot, held = step_until_shifted(engine)
        keep = 3 + 1  # num_keep after the BOS
        assert held[:keep] == job.prompt[:keep]
        expected = held[:keep] + held[keep + (N_CTX - keep) // 2 :]
        if movable:
            assert slot.tokens == expected and job.pending == job.output[-1:]
        else:
            assert slot.tokens == [] and job.pending == [*expected, job.output[-1]]

        other = next(s.seq_id for s in engine.slots if s is not slot)
        kept = [*expected, job.output[-1]]
        reference = reference_logits(model, other, held, kept, shifted=movable)
        engine.step()
        assert slot.tokens == kept  # the next token went in after the kept ones
        after = logits(model, job.logits_index)
        assert int(np.argmax(after)) == int(np.argmax(reference))  # the same greedy token
        np.testing.assert_allclose(after, reference, atol=1e-3 * float(np.ptp(reference)))
    finally:
        engine.close()
