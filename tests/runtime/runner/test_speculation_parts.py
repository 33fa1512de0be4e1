"""The pure parts of speculative decoding: n-gram lookup, the choice of how many tokens
to propose, the options and PARAMETER lines, and how ``ps`` shows the counts."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

import modelfile
from ladle.cli.serve import speculation
from ladle.errors import InvalidOptionError, ModelfileError
from runtime.api.options import generation
from runtime.loaded import Speculated, draft_name
from runtime.placement import draft_bytes
from runtime.protocol import GenerateChunk, LoadSpec
from runtime.runner.ngram import MATCHES_CHECKED, NgramIndex
from runtime.runner.speculation import (
    EXPLORE_EVERY,
    EXPLORE_RETRY,
    MIN_GAIN,
    PROBE_START,
    Speculation,
    Speculator,
    StepCosts,
    best_k,
)


def indexed(tokens: list[int], max_n: int = 3) -> NgramIndex:
    index = NgramIndex(max_n)
    index.extend(tokens)
    return index


def test_ngram_lookup_proposes_what_followed_the_longest_match() -> None:
    # "1 2 3" occurs once followed by 4 5 6; "2 3" alone also after 9.
    index = indexed([1, 2, 3, 4, 5, 6, 9, 2, 3, 7, 0, 1, 2, 3])
    assert index.propose(3) == [4, 5, 6]


def test_ngram_lookup_prefers_the_latest_of_equal_matches() -> None:
    # "5 6" is followed by 2 3 4 and, later, by 2 3 8: the latest is proposed.
    index = indexed([5, 6, 2, 3, 4, 0, 5, 6, 2, 3, 8, 0, 5, 6], max_n=2)
    assert index.propose(2) == [2, 3]


def test_ngram_lookup_stops_where_the_earlier_matches_part() -> None:
    """A slot that changes from copy to copy (``item_0``, ``item_1``, ...) is a guess:
    the proposal ends before it, and a match whose very next token differs between its
    copies proposes nothing."""
    # "9 1" is followed by 2 3 and, later, by 2 5: they agree on 2 only.
    index = indexed([9, 1, 2, 3, 4, 9, 1, 2, 5, 6, 9, 1], max_n=2)
    assert index.propose(4) == [2]
    index = indexed([9, 1, 3, 4, 9, 1, 5, 6, 9, 1], max_n=2)
    assert index.propose(4) == []
    # Matches older than the latest MATCHES_CHECKED are not asked.
    copies = [[9, 1, 2, 0]] + [[9, 1, 2, 3]] * MATCHES_CHECKED
    index = indexed([t for copy in copies for t in copy] + [9, 1], max_n=2)
    assert index.propose(4) == [2, 3, 9, 1]


def test_ngram_lookup_proposes_nothing_without_a_match() -> None:
    assert indexed([1, 2, 3, 4]).propose(4) == []
    assert indexed([1, 2, 1, 2]).propose(0) == []


def test_single_tokens_are_matched_only_when_asked() -> None:
    assert indexed([7, 8, 9, 7], max_n=4).propose(2) == []
    assert indexed([7, 8, 9, 7], max_n=1).propose(2) == [8, 9]


def test_the_number_proposed_follows_cost_and_acceptance() -> None:
    cheap, dear = StepCosts(), StepCosts()
    cheap.observe(1, 0.010)
    cheap.observe(9, 0.012)  # a GPU: 8 more tokens cost almost nothing
    dear.observe(1, 0.010)
    dear.observe(2, 0.020)  # every token costs a full step: nothing can pay
    dear.observe(3, 0.030)
    assert best_k(0.9, cheap, 8) == 8
    assert best_k(0.9, dear, 8) == 0
    assert best_k(0.05, cheap, 8) == 0  # never accepted: not worth the verify
    assert 0 < best_k(0.8, StepCosts(), 8) < 8  # the prior: a CPU's cost per token
    assert MIN_GAIN > 1


def test_an_unmeasured_size_is_read_off_the_nearest_measured_ones() -> None:
    """A CPU's curve bends: the second token costs most (the batch leaves the one-row
    path), each one after it little. Sizes not measured are estimated from the sizes
    around them, not from a line through one and two tokens (which priced 9 at 8.2
    steps where this machine measured 4.2, and kept k at 2)."""
    costs = StepCosts()
    for n, steps in ((1, 1.0), (2, 1.9), (3, 2.27), (9, 4.2)):
        costs.observe(n, steps / 100)
    assert costs.ratio(6) == pytest.approx(2.27 + 3 * (4.2 - 2.27) / 6)
    fewer = StepCosts()
    for n, steps in ((1, 1.0), (2, 1.9), (3, 2.27)):
        fewer.observe(n, steps / 100)
    assert fewer.ratio(9) == pytest.approx(2.27 + 6 * 0.37)  # on the last measured slope
    assert best_k(0.93, fewer, 8) > 2


def test_the_cost_of_the_largest_proposal_is_measured_when_it_is_not_chosen() -> None:
    """Where a few proposed tokens pay and the largest proposal's cost is unknown (or
    old), the speculator proposes as many as allowed now and then, to measure it."""
    speculator = Speculator(None)
    costs = speculator.costs
    for n, steps in ((1, 1.0), (2, 1.9), (3, 2.27)):
        costs.observe(n, steps / 100)
    chosen = [speculator._k(0.8, 8) for _ in range(20)]
    assert chosen[0] == 8 and all(0 < k < 8 for k in chosen[1:]), chosen  # once
    for _ in range(EXPLORE_RETRY + 1):
        costs.observe(2, 0.019)  # the steps go on, the large size still unmeasured
    assert speculator._k(0.8, 8) == 8  # tried again: the last try fell short
    costs.observe(9, 0.030)
    assert not costs.stale(9)
    assert speculator._k(0.8, 8) == best_k(0.8, costs, 8)
    for _ in range(EXPLORE_EVERY + 1):
        costs.observe(2, 0.019)
    assert costs.stale(9)


def test_speculation_options_come_from_the_image_and_the_request() -> None:
    from_image = generation({"spec_ngram": 3, "draft_num_predict": 5}, None).request("hi")
    assert (from_image.spec_ngram, from_image.draft_num_predict) == (3, 5)
    asked = generation({"spec_ngram": 3}, {"spec_ngram": 0}).request("hi")
    assert (asked.spec_ngram, asked.draft_num_predict) == (0, 8)


@pytest.mark.parametrize(
    ("option", "value"), [("spec_ngram", 17), ("draft_num_predict", -1), ("spec_ngram", "four")]
)
def test_a_bad_speculation_option_names_itself(option: str, value: object) -> None:
    with pytest.raises(InvalidOptionError, match=option):
        generation({}, {option: value})


def test_a_modelfile_sets_speculation_with_parameter_lines() -> None:
    spec = modelfile.parse("FROM x\nPARAMETER spec_ngram 4\nPARAMETER draft_num_predict 6\n")
    assert spec.validate().parameters.set_values() == {"spec_ngram": 4, "draft_num_predict": 6}
    with pytest.raises(ModelfileError, match="spec_ngram"):
        modelfile.parse("FROM x\nPARAMETER spec_ngram 99\n").validate()


def test_ps_counts_and_shows_the_speculation() -> None:
    counts = Speculated()
    counts.count(GenerateChunk(done=True, draft_count=10, draft_accepted_count=7))
    counts.count(GenerateChunk(done=True, draft_count=10, draft_accepted_count=1))
    assert counts.acceptance_rate == pytest.approx(0.4)
    assert Speculated().acceptance_rate is None
    assert speculation(None, {"drafted": 20, "accepted": 8}) == "8/20 (40%)"
    assert speculation("sha256:ab", {"drafted": 0}) == "draft"
    assert speculation(None, None) == ""
    assert draft_name(Path("/m/blobs/sha256-abc")) == "sha256:abc"
    assert draft_name(None) is None


def test_a_draft_model_is_priced_with_its_model(tiny_model: Path) -> None:
    load = LoadSpec(model_path=tiny_model, n_ctx=256, num_parallel=2)
    assert draft_bytes(load, 256) == 0
    with_draft = draft_bytes(load.model_copy(update={"draft_path": tiny_model}), 256)
    assert with_draft > tiny_model.stat().st_size


def test_a_draft_as_large_as_its_model_is_never_consulted_a_small_one_is() -> None:
    large, small = Speculator(None, draft_prior=0.95), Speculator(None, draft_prior=0.05)
    for speculator in (large, small):
        speculator.costs.observe(1, 0.010)
        speculator.costs.observe(5, 0.020)
    wanted = Speculation(8, None, use_draft=True)
    assert all(large._draft_k(wanted, 8) == 0 for _ in range(600))  # not even a probe
    assert small._draft_k(Speculation(8, None, use_draft=True), 8) > 0


def test_an_early_miss_does_not_end_ngram_proposals_for_the_reply() -> None:
    """One rejected proposal drops the acceptance estimate below what pays; a probe after
    a short backoff lets a reply that goes on copying its input win it back."""
    speculator = Speculator(None)
    speculator.costs.observe(1, 0.010)
    speculator.costs.observe(2, 0.0135)  # a CPU at a long context, flash attention off
    spec = Speculation(8, NgramIndex(4), use_draft=False)
    text = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    history = [*text, 1, 2, 3]
    speculator.propose([(spec, 0, history, 8)])
    assert spec.proposal  # the prior pays for a first try
    spec.settle(0)  # and the model said otherwise
    proposals = []
    for _ in range(8):
        speculator.propose([(spec, 0, history, 8)])
        proposals.append(len(spec.proposal))
        if spec.proposal:
            spec.settle(len(spec.proposal))  # the probe is kept whole
    assert proposals[:3] == [0, 0, 0], proposals  # backing off
    assert proposals[3] == 2, proposals  # the probe
    assert all(n > 0 for n in proposals[4:]), proposals  # and proposals again


def test_probes_kept_whole_come_again_soon_rejected_ones_back_off() -> None:
    """Misses early in a reply (a rewrite's first lines differ from the file) pull the
    acceptance down to where only probes are made; while probes are kept whole the next
    comes after the first backoff again, not after one that doubles each time."""

    def probe_steps(kept_whole: bool) -> list[int]:
        speculator = Speculator(None)
        for size, seconds in ((1, 0.010), (2, 0.0192), (3, 0.0234), (9, 0.0414)):
            speculator.costs.observe(size, seconds)  # this CPU at the rewrite's context
        spec = Speculation(8, NgramIndex(4), use_draft=False)
        history = [*range(1, 40), *range(1, 4)]
        for _ in range(4):  # early misses
            spec._remember("ngram", kept=1, missed=True)
        steps = []
        for step in range(40):
            speculator.propose([(spec, 0, history, 8)])
            if spec.proposal:
                steps.append(step)
                spec.settle(len(spec.proposal) if kept_whole else 0)
        return steps

    start = PROBE_START["ngram"]
    kept = probe_steps(kept_whole=True)
    assert [b - a for a, b in pairwise(kept[:3])] == [start, start], kept
    assert kept[3:6] == [kept[2] + 1, kept[2] + 2, kept[2] + 3], kept  # and k > 0 again
    rejected = probe_steps(kept_whole=False)
    assert [b - a for a, b in pairwise(rejected)] == [2 * start, 4 * start], rejected


class DoubtfulDraft:
    """A draft model that is asked and never confident enough to propose anything."""

    def __init__(self) -> None:
        self.asked = 0

    def propose(self, wanted: list[tuple[int, list[int], int]]) -> tuple[list[list[int]], float]:
        self.asked += 1
        return [[] for _ in wanted], 0.001


def test_a_draft_that_never_proposes_is_asked_only_on_probes() -> None:
    """A draft whose guesses stay below its confidence floor costs a decode each time it
    is asked: after a few empty answers it is asked only on probes, ever further apart."""
    draft = DoubtfulDraft()
    speculator = Speculator(draft, draft_prior=0.1)  # type: ignore[arg-type]
    speculator.costs.observe(1, 0.010)
    speculator.costs.observe(3, 0.014)
    spec = Speculation(8, None, use_draft=True)
    steps = []
    for step in range(300):
        before = draft.asked
        speculator.propose([(spec, 0, [1, 2, 3], 8)])
        assert spec.proposal == []
        if draft.asked > before:
            steps.append(step)
    assert len(steps) < 15, steps
    gaps = [later - earlier for earlier, later in pairwise(steps[3:])]
    assert gaps == sorted(gaps) and gaps[-1] >= 64, steps  # backing off, doubling
