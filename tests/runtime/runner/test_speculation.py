"""Speculative decoding in the engine, run in this process on the tiny model: greedy output
identical with and without it, the sampling distribution unchanged, each slot drafting
on its own."""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runtime.protocol import GenerateChunk, GenerateRequest, LoadSpec, SamplingOptions
from runtime.runner.engine import Engine
from runtime.runner.messages import ChunkGenerated
from runtime.runner.native import LlamaLog, LlamaModel
from tests.fixtures.tiny_gguf import write_tiny_llama

GREEDY = SamplingOptions(temperature=0, repeat_penalty=1.0)
PROMPTS = ["hello world", "the world is the world is", "def f(x):\n    return x\n" * 4, "in it"]

MakeEngine = Callable[..., Engine]


@functools.cache
def process_log() -> LlamaLog:
    """The one llama.cpp log handler of this process: llama.cpp calls the last one set
    until the process ends, so it must never be freed."""
    return LlamaLog()


@pytest.fixture
def log() -> LlamaLog:
    return process_log()


@pytest.fixture(scope="module")
def other_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model with the same vocabulary but other weights: a draft often wrong."""
    return write_tiny_llama(tmp_path_factory.mktemp("draft") / "other.gguf", seed=1)


@pytest.fixture
def make_engine(tiny_model: Path, log: LlamaLog) -> Iterator[MakeEngine]:
    """``make_engine(draft=None, fixed_k=None, num_parallel=1)``: a fresh engine."""
    opened: list[LlamaModel] = []
    engines: list[Engine] = []

    def make(
        draft: Path | None = None, fixed_k: int | None = None, num_parallel: int = 1
    ) -> Engine:
        spec = LoadSpec(model_path=tiny_model, n_ctx=256, n_threads=2, num_parallel=num_parallel)
        model = LlamaModel(spec, log)
        opened.append(model)
        drafter = None
        if draft is not None:
            drafter = LlamaModel(spec.model_copy(update={"model_path": draft}), log)
            opened.append(drafter)
        engine = Engine(model, drafter)
        engine.speculator.fixed_k = fixed_k
        if engine.speculator.drafter is not None:
            engine.speculator.drafter.p_min = 0.0  # the tiny models are never confident
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()
    for model in opened:
        model.close()


def run(engine: Engine, requests: list[GenerateRequest]) -> list[GenerateChunk]:
    """Every request's final chunk (with its tokens), all submitted at once."""
    for job_id, request in enumerate(requests):
        engine.submit(job_id, request)
    finals: dict[int, GenerateChunk] = {}
    while engine.busy:
        for event in engine.step():
            assert isinstance(event, ChunkGenerated), event
            if event.chunk.done:
                finals[event.id] = event.chunk
    return [finals[job_id] for job_id in range(len(requests))]


def greedy(prompt: str, **fields: object) -> GenerateRequest:
    return GenerateRequest(
        prompt=prompt,
        sampling=GREEDY,
        num_predict=48,
        ignore_eos=True,
        return_tokens=True,
        **fields,
    )


def test_ngram_speculation_gives_the_same_greedy_tokens(make_engine: MakeEngine) -> None:
    plain = run(make_engine(), [greedy(prompt) for prompt in PROMPTS])
    for fixed_k in (None, 1, 4):
        fast = run(make_engine(fixed_k=fixed_k), [greedy(p, spec_ngram=3) for p in PROMPTS])
        assert [chunk.tokens for chunk in fast] == [chunk.tokens for chunk in plain]
    assert sum(chunk.draft_count for chunk in fast) > 0
    assert (
        0
        < sum(chunk.draft_accepted_count for chunk in fast)
        <= sum(chunk.draft_count for chunk in fast)
    )


def test_a_model_as_its_own_draft_is_accepted_every_time(
    make_engine: MakeEngine, tiny_model: Path
) -> None:
    plain = run(make_engine(), [greedy(prompt) for prompt in PROMPTS])
    drafted = run(make_engine(draft=tiny_model, fixed_k=4), [greedy(p) for p in PROMPTS])
    assert [chunk.tokens for chunk in drafted] == [chunk.tokens for chunk in plain]
    for chunk in drafted:
        assert chunk.draft_count > 20
        assert chunk.draft_accepted_count == chunk.draft_count


def test_a_wrong_draft_changes_nothing_but_the_acceptance(
    make_engine: MakeEngine, other_tiny: Path
) -> None:
    plain = run(make_engine(), [greedy(prompt) for prompt in PROMPTS])
    drafted = run(make_engine(draft=other_tiny, fixed_k=3), [greedy(p) for p in PROMPTS])
    assert [chunk.tokens for chunk in drafted] == [chunk.tokens for chunk in plain]
    assert sum(c.draft_accepted_count for c in drafted) < sum(c.draft_count for c in drafted)


def test_each_slot_drafts_on_its_own_beside_the_others(
    make_engine: MakeEngine, other_tiny: Path
) -> None:
    alone = [run(make_engine(), [greedy(prompt)])[0].tokens for prompt in PROMPTS]
    engine = make_engine(draft=other_tiny, fixed_k=4, num_parallel=4)
    together = run(engine, [greedy(prompt, spec_ngram=2) for prompt in PROMPTS])
    assert [chunk.tokens for chunk in together] == alone
    # The next turn reuses the slot's cache, in the target and in the draft.
    again = run(engine, [greedy(PROMPTS[2] + "x", spec_ngram=2)])[0]
    assert again.cached_tokens > 0
    assert again.tokens == run(make_engine(), [greedy(PROMPTS[2] + "x")])[0].tokens


def test_turning_speculation_off_per_request(make_engine: MakeEngine, tiny_model: Path) -> None:
    engine = make_engine(draft=tiny_model, fixed_k=4)
    final = run(engine, [greedy(PROMPTS[0], spec_ngram=3, draft_num_predict=0)])[0]
    assert final.draft_count == 0


SAMPLED = SamplingOptions(temperature=1.0, top_k=4, repeat_penalty=1.0)
SEEDS = 400


def token_frequencies(engine: Engine, first_seed: int, position: int) -> Counter[int]:
    """How often each token comes at ``position`` of the output over :data:`SEEDS`
    seeded samples, four requests (slots) at a time."""
    counts: Counter[int] = Counter()
    for start in range(first_seed, first_seed + SEEDS, 4):
        requests = [
            GenerateRequest(
                prompt="the world is",
                sampling=SAMPLED.model_copy(update={"seed": seed}),
                num_predict=position + 1,
                ignore_eos=True,
                return_tokens=True,
            )
            for seed in range(start, start + 4)
        ]
        for chunk in run(engine, requests):
            assert chunk.tokens is not None
            counts[chunk.tokens[-(position + 1) :][position]] += 1
    return counts


def chi_square_bound(df: int, z: float = 3.09) -> float:
    """The chi-square value exceeded with probability ~0.001 (Wilson-Hilferty)."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def homogeneity(a: Counter[int], b: Counter[int]) -> tuple[float, int]:
    """The two-sample chi-square statistic (rare tokens pooled) and its degrees of freedom."""
    total = a + b
    common = [token for token, n in total.items() if n >= 10]
    bins = [(a[t], b[t]) for t in common]
    bins.append(
        (sum(a.values()) - sum(x for x, _ in bins), sum(b.values()) - sum(y for _, y in bins))
    )
    n_a, n_b = sum(a.values()), sum(b.values())
    statistic = 0.0
    for x, y in bins:
        expected_a = (x + y) * n_a / (n_a + n_b)
        expected_b = (x + y) * n_b / (n_a + n_b)
        if x + y:
            statistic += (x - expected_a) ** 2 / expected_a + (y - expected_b) ** 2 / expected_b
    return statistic, len(bins) - 1


@pytest.mark.parametrize("position", [1, 3])
def test_sampling_draws_from_the_same_distribution(
    make_engine: MakeEngine, other_tiny: Path, position: int
) -> None:
    plain = token_frequencies(make_engine(num_parallel=4), 0, position)
    engine = make_engine(draft=other_tiny, fixed_k=3, num_parallel=4)
    drafted = token_frequencies(engine, 10_000, position)  # other seeds: independent samples
    statistic, df = homogeneity(plain, drafted)
    assert df >= 2
    assert statistic < chi_square_bound(df)
