"""Shared prefixes (:mod:`runtime.runner.prefix`): a prompt's prefix held by another slot
is copied, not evaluated, and the answer is the one an in-memory hit gives."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from runtime.protocol import PromptCacheSpec
from runtime.runner.engine import Engine
from runtime.runner.native import LlamaModel
from runtime.runner.prefix import MIN_GAIN, CacheStats, common_prefix, prepare

from .stepping import Outputs, greedy, loaded

SYSTEM = "you are a helpful bot and the world is hello " * 6


def _prompts(model: LlamaModel) -> tuple[list[int], list[int], list[int]]:
    system = model.tokenize(SYSTEM)
    first = system + model.tokenize("hello you", add_special=False)
    second = system + model.tokenize("it is the world", add_special=False)
    assert common_prefix(first, second) == len(system)
    return system, first, second


def _empty(model: LlamaModel) -> None:
    for seq_id in range(model.spec.num_parallel):
        model.forget(seq_id)


def test_a_prefix_held_by_a_busy_slot_is_copied_and_answers_the_same(tiny_model: Path) -> None:
    with loaded(tiny_model, num_parallel=2) as model:
        system, first, second = _prompts(model)
        # Without sharing: the second prompt takes the slot the first one left.
        engine = Engine(model)
        outputs = Outputs(engine)
        outputs.run(1, greedy(first, 1))
        expected, alone = outputs.run(2, greedy(second, 24))
        assert (alone.cache_source, alone.cached_tokens) == ("memory", len(system))
        engine.close()
        _empty(model)

        engine = Engine(model)
        outputs = Outputs(engine)
        engine.submit(3, greedy(first, 150))
        for _ in range(3):
            outputs.step()
        text, final = outputs.run(4, greedy(second, 24))
        assert 3 not in outputs.final  # the slot it copied from was busy all along
        assert (final.cache_source, final.cached_tokens) == ("shared", len(system))
        assert final.prompt_eval_count == len(second)
        assert text == expected
        assert engine.stats.shared_hits == 1 and engine.stats.tokens_saved == len(system)
        engine.close()


def test_a_whole_prompt_held_elsewhere_still_evaluates_its_last_token(tiny_model: Path) -> None:
    with loaded(tiny_model, num_parallel=2) as model:
        _, first, _ = _prompts(model)
        engine = Engine(model)
        outputs = Outputs(engine)
        engine.submit(1, greedy(first, 150))
        outputs.step()
        _, final = outputs.run(2, greedy(first, 4))
        assert (final.cache_source, final.cached_tokens) == ("shared", len(first) - 1)
        engine.close()


@dataclass
class FakeSlot:
    seq_id: int
    tokens: list[int] = field(default_factory=list)


@dataclass
class FakeModel:
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    def copy(self, source: int, target: int) -> None:
        self.calls.append(("copy", source, target))

    def forget(self, seq_id: int, start: int = 0, end: int = -1) -> bool:
        self.calls.append(("forget", seq_id, start))
        return True


def test_a_copy_must_save_min_gain_tokens_over_the_slots_own_cache() -> None:
    prompt = list(range(100))
    slot = FakeSlot(0, list(range(50)))
    near = FakeSlot(1, [*range(50 + MIN_GAIN - 1), -1])
    model = FakeModel()
    kept, source = prepare(cast(LlamaModel, model), slot, [near], prompt, None)
    assert (kept, source) == (50, "memory") and model.calls == []

    far = FakeSlot(2, [*range(80), -1])
    kept, source = prepare(cast(LlamaModel, model), slot, [near, far], prompt, None)
    assert (kept, source) == (80, "shared")
    assert model.calls == [("copy", 2, 0), ("forget", 0, 80)]
    assert slot.tokens == list(range(80))


def test_cache_stats_count_hits_by_source_and_the_tokens_saved() -> None:
    stats = CacheStats()
    for source, tokens in [("memory", 10), ("shared", 30), ("disk", 500), (None, 0)]:
        stats.count(source, tokens)  # type: ignore[arg-type]
    assert (stats.memory_hits, stats.shared_hits, stats.disk_hits) == (1, 1, 1)
    assert stats.tokens_saved == 540


@dataclass
class FakeSaved:
    tokens: list[int]
    restored: list[int] = field(default_factory=list)

    def longest(self, prompt: list[int]) -> tuple[int, object]:
        return common_prefix(self.tokens, prompt), "entry"

    def restore(self, entry: object, model: LlamaModel, seq_id: int) -> list[int]:
        self.restored.append(seq_id)
        return list(self.tokens)


def test_a_saved_cache_that_covers_more_is_read_without_a_copy_first() -> None:
    """llama.cpp copies a sequence at the next decode: a copy before a restore would
    overwrite the restored cache with the other slot's (a garbled answer)."""
    prompt = list(range(200))
    slot, busy = FakeSlot(0), FakeSlot(1, [*range(40), -1])
    model, saved = FakeModel(), FakeSaved([*range(150), -2])
    kept, source = prepare(cast(LlamaModel, model), slot, [busy], prompt, saved)
    assert (kept, source) == (150, "disk") and saved.restored == [0]
    assert model.calls == [("forget", 0, 150)]  # no copy


def test_after_a_copy_the_next_job_waits_for_the_decode_that_makes_it(
    smollm2: Path, tmp_path: Path
) -> None:
    """A job admitted in the same step as a copy could read a saved cache into the
    copy's target or source before llama.cpp made the copy; it is admitted one step
    later, and answers as it does alone. (SmolLM2: the tiny model's answer does not
    show a garbled cache.)"""
    spec = PromptCacheSpec(folder=tmp_path, max_bytes=1 << 30, model_digest="sha256-" + "0" * 64)
    with loaded(smollm2, num_parallel=3, prompt_cache=spec) as model:
        _, first, second = _prompts(model)
        longer = first + model.tokenize(" and the world is hello" * 6, add_special=False)
        engine = Engine(model)
        Outputs(engine).run(1, greedy(longer, 1))
        engine.close()  # saves the long chat
        _empty(model)

        def alone() -> str:
            engine = Engine(model)
            text, final = Outputs(engine).run(2, greedy(longer, 8))
            assert final.cache_source == "disk"
            engine.saved = None  # keep the folder as it is
            engine.close()
            _empty(model)
            return text

        expected = alone()
        engine = Engine(model)
        outputs = Outputs(engine)
        engine.submit(3, greedy(second, 150))
        outputs.step()
        engine.submit(4, greedy(second, 4))  # copies job 3's cache
        engine.submit(5, greedy(longer, 8))  # reads the saved one
        outputs.step()
        assert sum(slot.job is not None for slot in engine.slots) == 2  # job 5 waits
        text, final = outputs.until_done(5)
        assert final.cache_source == "disk"
        assert text == expected
        engine.saved = None
        engine.close()
