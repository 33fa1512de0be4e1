"""Log-probabilities and ``context`` in a runner, checked against llama.cpp itself: the
tiny model loaded with ``llama_cpp.Llama`` in this process evaluates the same tokens,
and the log-softmax of its logits must be what the runner reported."""

from __future__ import annotations

from pathlib import Path

import llama_cpp
import numpy as np
import pytest

from ladle.errors import InvalidRequestError
from runtime.protocol import GenerateChunk, GenerateRequest, SamplingOptions, TokenLogprob

from .conftest import StartRunner, collect, complete

pytestmark = pytest.mark.anyio

GREEDY = SamplingOptions(temperature=0, seed=7, repeat_penalty=1.0)  # drawn as reported
PROMPT = "hello world the world is"


def direct_logprobs(model: Path, tokens: list[int], start: int) -> np.ndarray:
    """llama.cpp's log-softmax after each of ``tokens[start - 1:]`` (the distributions the
    tokens from ``start`` on were drawn from)."""
    llm = llama_cpp.Llama(str(model), n_ctx=256, logits_all=True, verbose=False, n_threads=2)
    try:
        llm.eval(tokens)
        logits = np.asarray(llm.scores[start - 1 : len(tokens) - 1], dtype=np.float64)
    finally:
        llm.close()
    shifted = logits - logits.max(axis=1, keepdims=True)
    result: np.ndarray = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return result


def own_tokens(model: Path, text: str) -> list[int]:
    """``text``'s tokens without the model's BOS (as the runner appends them to a context)."""
    llm = llama_cpp.Llama(str(model), n_ctx=64, vocab_only=True, verbose=False)
    try:
        return list(llm.tokenize(text.encode(), add_bos=False, special=True))
    finally:
        llm.close()


def entries(chunks: list[GenerateChunk]) -> list[TokenLogprob]:
    return [entry for chunk in chunks for entry in chunk.logprobs]


async def test_logprobs_are_llama_cpp_s_log_softmax(start: StartRunner, tiny_model: Path) -> None:
    runner = await start(tiny_model)
    request = GenerateRequest(
        prompt=PROMPT,
        sampling=GREEDY,
        num_predict=6,
        ignore_eos=True,
        logprobs=True,
        top_logprobs=5,
        return_tokens=True,
    )
    chunks = await collect(runner, request)
    got = entries(chunks)
    prompt = await runner.tokenize(PROMPT)
    final = chunks[-1]
    assert final.tokens is not None and list(final.tokens[: len(prompt)]) == prompt
    generated = list(final.tokens[len(prompt) :])
    assert [entry.id for entry in got] == generated and len(got) == 6
    expected = direct_logprobs(tiny_model, prompt + generated, len(prompt))
    for entry, row in zip(got, expected, strict=True):
        assert entry.logprob <= 0
        assert entry.logprob == pytest.approx(row[entry.id], abs=2e-3)
        assert len(entry.top) == 5
        tops = [top.logprob for top in entry.top]
        assert tops == sorted(tops, reverse=True)
        assert [top.logprob for top in entry.top] == pytest.approx(
            sorted(row, reverse=True)[:5], abs=2e-3
        )
        assert entry.top[0].id == entry.id  # greedy: the likeliest token is drawn
        assert entry.top[0].logprob == entry.logprob
        assert entry.bytes == tuple(entry.token.encode()) or "\ufffd" in entry.token


async def test_no_logprobs_unless_asked(start: StartRunner, tiny_model: Path) -> None:
    runner = await start(tiny_model)
    request = GenerateRequest(prompt=PROMPT, sampling=GREEDY, num_predict=4, ignore_eos=True)
    chunks = await collect(runner, request)
    assert not entries(chunks) and chunks[-1].tokens is None
    asked = request.model_copy(update={"logprobs": True})
    got = entries(await collect(runner, asked))
    assert len(got) == 4 and all(not entry.top for entry in got)


async def test_a_context_continues_as_the_concatenated_tokens_would(
    start: StartRunner, tiny_model: Path
) -> None:
    first_request = GenerateRequest(
        prompt=PROMPT, sampling=GREEDY, num_predict=5, ignore_eos=True, return_tokens=True
    )
    runner = await start(tiny_model)
    _, first = await complete(runner, first_request)
    assert first.tokens is not None
    follow_up = " and then"
    second_request = first_request.model_copy(
        update={"prompt": follow_up, "context": first.tokens, "return_tokens": False}
    )
    second_text, second = await complete(runner, second_request)
    assert second.cached_tokens >= len(first.tokens) - 1  # the whole context, from the cache
    new = own_tokens(tiny_model, follow_up)
    assert list(second.tokens or ()) == []  # not asked for
    alone = await start(tiny_model)  # a fresh cache: nothing reused
    whole = GenerateRequest(
        prompt=(*first.tokens, *new), sampling=GREEDY, num_predict=5, ignore_eos=True
    )
    alone_text, alone_final = await complete(alone, whole)
    assert alone_final.cached_tokens == 0
    assert second_text == alone_text
    assert second.prompt_eval_count == alone_final.prompt_eval_count


async def test_a_context_outside_the_vocabulary_is_refused(
    start: StartRunner, tiny_model: Path
) -> None:
    runner = await start(tiny_model)
    with pytest.raises(InvalidRequestError, match="context"):
        await complete(runner, GenerateRequest(prompt=PROMPT, context=(1, 10**7)))
