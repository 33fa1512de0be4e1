"""Speculative decoding: propose several tokens, verify them in one batch, keep the prefix
the model agrees with.

A generating sequence normally costs one decode per token. With speculation its next
batch entry is its last token *and* ``k`` proposed tokens, with logits kept for every
position; the engine (:mod:`runtime.runner.engine`) then samples position by position
with the sequence's own sampler and stops at the first sampled token that differs from
the proposal. Every token kept was sampled from the model's own distribution in the
order it would have been without speculation, so

- greedy output is the same token for token;
- with sampling the distribution is unchanged: the proposals here are deterministic (a
  point mass ``q``), for which the speculative sampling rule (accept ``x`` with
  probability ``min(1, p(x)/q(x))``, else draw from ``max(0, p - q)``) is exactly "draw
  from ``p`` and accept while equal";
- repetition penalties, the grammar and logprobs see exactly the accepted tokens, since
  the sampler is asked about a position only after every token before it was accepted.

Rejected proposals leave the KV cache (``LlamaModel.forget``). Proposals come from
n-gram lookup (:mod:`runtime.runner.ngram`, when a request's ``spec_ngram`` is set) or
from a draft model loaded beside the target (:mod:`runtime.runner.draft`).

How many to propose: verifying ``k`` tokens costs more than one on a CPU (a decode of
``1 + k`` tokens; :class:`StepCosts` measures it as the runner works). With an
acceptance rate ``a`` per proposed token a step yields ``(1 - a^(k+1)) / (1 - a)``
tokens on average, so :func:`best_k` takes the ``k`` that yields most tokens per unit
of time, and none when no ``k`` beats a plain step. A source whose proposals stop paying
is tried again with a short proposal (a probe) only after a backoff that doubles each
time (the fallback that keeps free chat from getting slower); without probes one early
miss would keep the acceptance estimate, and so ``k``, at zero for the rest of a reply
that goes on to copy its input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from runtime.protocol import GenerateRequest

from .draft import Drafter
from .logprobs import Distribution, distribution
from .native import LlamaModel
from .ngram import NgramIndex
from .sampling import Sampler

Source = Literal["ngram", "draft"]

DECAY = 0.8
"""How much of the acceptance history each new verification keeps."""
PRIOR_ACCEPTANCE: dict[Source, float] = {"ngram": 0.6, "draft": 0.7}
"""The acceptance rate assumed before a sequence has any of its own."""
PRIOR_SLOPE = 0.3
"""Extra cost of each verified token, as a fraction of a one-token step, before the
runner has measured its own (measured: 0.2-0.5 on 2-4 CPU cores, ~0 on a GPU)."""
MIN_GAIN = 1.05
"""The least expected speed-up that makes a proposal worth its verification."""
BEST_RATE = 0.95
"""The acceptance of a draft that is nearly always right: if even it cannot pay on this
machine (a draft as large as its model), the draft is never consulted."""
PROBE_START: dict[Source, int] = {"ngram": 4, "draft": 16}
"""Steps before a source that stopped paying is tried again (an n-gram probe costs only a
2-token verify, a draft probe the draft's decodes too), doubling to at most
:data:`PROBE_MAX`."""
PROBE_MAX = 512
PROBE_TOKENS = 2
"""A probe's proposal."""
EXPLORE_EVERY = 64
"""Steps after which the cost of verifying the largest proposal allowed is measured again
when it is not chosen anyway (see :meth:`Speculator._k`)."""
EXPLORE_RETRY = 8
"""Steps before trying again when such a proposal came out shorter (the n-gram's match
had fewer tokens after it)."""


class StepCosts:
    """What a decode of ``n`` tokens costs, measured as the runner works (exponential
    moving averages), for the target and, per token, for the draft model."""

    def __init__(self, draft_prior: float = 1.0) -> None:
        self.seconds: dict[int, float] = {}
        self.steps = 0
        self.seen: dict[int, int] = {}  # size -> the step it was last measured at
        self.draft_seconds = 0.0
        self.draft_prior = draft_prior
        """A draft token's cost before it is measured: the draft's size over the model's
        (decoding one token reads every weight once)."""

    def observe(self, n_tokens: int, seconds: float) -> None:
        """A generation step of ``n_tokens`` took ``seconds``."""
        self.seconds[n_tokens] = _average(self.seconds.get(n_tokens), seconds)
        self.steps += 1
        self.seen[n_tokens] = self.steps

    def stale(self, n_tokens: int) -> bool:
        """Whether ``n_tokens``'s cost is unmeasured or was last measured more than
        :data:`EXPLORE_EVERY` steps ago."""
        return self.steps - self.seen.get(n_tokens, -EXPLORE_EVERY) > EXPLORE_EVERY

    def observe_draft(self, tokens: int, seconds: float) -> None:
        """The draft model proposed ``tokens`` in ``seconds``."""
        if tokens:
            self.draft_seconds = _average(self.draft_seconds or None, seconds / tokens)

    def ratio(self, n_tokens: int) -> float:
        """The cost of an ``n_tokens`` step in one-token steps: measured, else read off
        the line through the nearest measured sizes (see :meth:`_estimate`)."""
        one = self.seconds.get(1)
        if n_tokens == 1:
            return 1.0
        if not one:
            return 1.0 + PRIOR_SLOPE * (n_tokens - 1)
        if n_tokens in self.seconds:
            return self.seconds[n_tokens] / one
        return self._estimate(n_tokens, {n: s / one for n, s in self.seconds.items()})

    @staticmethod
    def _estimate(n_tokens: int, known: dict[int, float]) -> float:
        """``n_tokens``'s cost from the ``known`` ones: between two measured sizes on the
        line joining them, past the largest on the slope of the last two. The curve is
        not a line through one step: on a CPU the second token costs most (the batch
        leaves the one-row path: 1.4-1.9 steps measured) and each one after it far less
        (0.2-0.5), so a slope taken from 1 to 2 alone would price a batch of 9 at twice
        what it costs, and the ``k`` chosen would never grow to where it pays."""
        below = max((n for n in known if n < n_tokens), default=1)
        above = min((n for n in known if n > n_tokens), default=None)
        if above is not None:
            share = (n_tokens - below) / (above - below)
            return known[below] + share * (known[above] - known[below])
        before = max((n for n in known if 1 < n < below), default=None)
        if before is None:  # one batched size measured (or none): the prior's slope
            slope = PRIOR_SLOPE
        else:
            slope = max(0.0, (known[below] - known[before]) / (below - before))
        return known[below] + slope * (n_tokens - below)

    def draft_ratio(self) -> float:
        """A draft model's token, in one-token steps of the target."""
        one = self.seconds.get(1)
        return self.draft_seconds / one if one and self.draft_seconds else self.draft_prior


def best_k(rate: float, costs: StepCosts, most: int, per_proposal: float = 0.0) -> int:
    """The number of tokens to propose that maximises tokens per unit of time, 0 when
    none gains at least :data:`MIN_GAIN`; ``per_proposal``: what proposing one costs."""
    best, best_gain = 0, MIN_GAIN
    for k in range(1, most + 1):
        expected = sum(rate**i for i in range(k + 1))
        gain = expected / (costs.ratio(1 + k) + per_proposal * k)
        if gain > best_gain:
            best, best_gain = k, gain
    return best


@dataclass(eq=False)
class Speculation:
    """One sequence's speculation: where proposals come from, how well they do."""

    most: int  # the request's draft_num_predict
    ngram: NgramIndex | None
    use_draft: bool
    drafted: int = 0
    accepted: int = 0
    source: Source = "ngram"
    proposal: list[int] = field(default_factory=list)  # in the batch being verified
    _kept: dict[str, float] = field(default_factory=dict)  # source -> decayed accepted
    _lost: dict[str, float] = field(default_factory=dict)  # source -> decayed rejections
    _backoff: dict[str, int] = field(default_factory=dict)  # source -> steps between probes
    _wait: dict[str, int] = field(default_factory=dict)  # source -> steps since a proposal

    def rate(self, source: Source) -> float:
        """The acceptance rate per proposed token, from this sequence's history."""
        prior = PRIOR_ACCEPTANCE[source]
        kept, lost = self._kept.get(source, 0.0), self._lost.get(source, 0.0)
        return (kept + 2 * prior) / (kept + lost + 2)

    def paced(self, source: Source, k: int, most: int) -> int:
        """``k``, the number worth proposing from ``source``; when that is none, a probe
        of :data:`PROBE_TOKENS` once the source's backoff has passed (then it doubles,
        unless the probe is accepted whole: see :meth:`settle`)."""
        start = PROBE_START[source]
        if k:
            self._backoff[source], self._wait[source] = start, 0
            return k
        self._wait[source] = self._wait.get(source, 0) + 1
        backoff = self._backoff.get(source, start)
        if self._wait[source] < backoff or most <= 0:
            return 0
        self._wait[source], self._backoff[source] = 0, min(2 * backoff, PROBE_MAX)
        return min(PROBE_TOKENS, most)

    def unconfident(self) -> None:
        """The draft model was asked and proposed nothing (its guess below
        :data:`~runtime.runner.draft.DRAFT_P_MIN`): a miss, as its decodes were spent for
        nothing, so that a draft that never trusts itself backs off to probes instead of
        being asked at every step."""
        self._remember("draft", kept=0, missed=True)

    def _remember(self, source: Source, kept: int, missed: bool) -> None:
        """Add one verification (or an empty draft answer) to ``source``'s decayed
        history, from which :meth:`rate` reads."""
        self._kept[source] = DECAY * self._kept.get(source, 0.0) + kept
        self._lost[source] = DECAY * self._lost.get(source, 0.0) + missed

    def settle(self, accepted: int) -> None:
        """The model kept ``accepted`` tokens of :attr:`proposal`. A probe kept whole
        brings the next one as soon as the first after a stop: one probe adds little to
        a history that early misses pulled down, and a reply that turned to copying its
        input (a rewrite's first lines differ, the rest is copied) would otherwise wait
        out a doubling backoff, probe after probe, before ``k`` grew again."""
        proposed, source = len(self.proposal), self.source
        self.drafted += proposed
        self.accepted += accepted
        self._remember(source, kept=accepted, missed=accepted < proposed)
        if accepted == proposed:  # a no-op unless a probe: paced reset it for any k > 0
            self._backoff[source] = PROBE_START[source]
        self.proposal = []


class Speculator:
    """Chooses and makes the proposals of every generating sequence of one engine."""

    @classmethod
    def of(cls, model: LlamaModel, draft: LlamaModel | None) -> Speculator:
        """The speculator of an engine over ``model``, with ``draft`` when it has one."""
        if draft is None:
            return cls(None)
        prior = draft.size_bytes / max(model.size_bytes, 1)
        return cls(Drafter(draft), draft_prior=prior)

    def __init__(
        self, drafter: Drafter | None, fixed_k: int | None = None, draft_prior: float = 1.0
    ) -> None:
        self.drafter = drafter
        self.costs = StepCosts(draft_prior)
        self.fixed_k = fixed_k
        """Propose this many every step, whatever they cost (tests, benchmarks)."""
        self._explored = -EXPLORE_RETRY  # the step of the last proposal made to measure

    def _k(self, rate: float, most: int, per_proposal: float = 0.0) -> int:
        """How many to propose. When some number pays but not ``most``, and the cost of
        verifying ``most`` is unknown or old, ``most`` now and then, to measure it: the
        costs of sizes never verified are estimates (:meth:`StepCosts.ratio`) from the
        sizes chosen so far, and a curve that bends only further on would otherwise keep
        ``k`` small for good."""
        if self.fixed_k is not None:
            return min(self.fixed_k, most)
        k = best_k(rate, self.costs, most, per_proposal)
        costs = self.costs
        if 0 < k < most and costs.stale(1 + most) and costs.steps - self._explored > EXPLORE_RETRY:
            self._explored = costs.steps
            return most
        return k

    def start(self, request: GenerateRequest) -> Speculation | None:
        """The speculation of a new request, None when it has none."""
        use_draft = self.drafter is not None
        if request.draft_num_predict == 0 or not (request.spec_ngram or use_draft):
            return None
        ngram = NgramIndex(request.spec_ngram) if request.spec_ngram else None
        return Speculation(request.draft_num_predict, ngram, use_draft)

    def propose(self, wanted: Sequence[tuple[Speculation, int, Sequence[int], int]]) -> None:
        """Set the :attr:`~Speculation.proposal` of each ``(speculation, seq_id,
        history, room)``: ``history`` is the sequence's prompt and output (its last token
        not evaluated yet), ``room`` the most tokens it may take."""
        drafting = []
        for spec, seq_id, history, room in wanted:
            most = min(spec.most, room)
            if spec.ngram is not None and self._propose_ngram(spec, history, most):
                continue
            k = self._draft_k(spec, most)
            if k:
                drafting.append((spec, seq_id, history, k))
        if drafting and self.drafter is not None:
            self._propose_draft(drafting)

    def _propose_ngram(self, spec: Speculation, history: Sequence[int], most: int) -> bool:
        index = spec.ngram
        assert index is not None
        index.extend(history[len(index.tokens) :])
        k = self._k(spec.rate("ngram"), most)
        spec.proposal, spec.source = index.propose(spec.paced("ngram", k, most)), "ngram"
        return bool(spec.proposal)

    def _draft_k(self, spec: Speculation, most: int) -> int:
        if not spec.use_draft or most <= 0:
            return 0
        draft_cost = self.costs.draft_ratio()
        if self.fixed_k is None and best_k(BEST_RATE, self.costs, most, draft_cost) == 0:
            return 0  # not even a draft that is always right could pay: never probe
        # Probes: the text may have turned to something the draft predicts well.
        return spec.paced("draft", self._k(spec.rate("draft"), most, draft_cost), most)

    def _propose_draft(self, drafting: list[tuple[Speculation, int, Sequence[int], int]]) -> None:
        assert self.drafter is not None
        proposals, seconds = self.drafter.propose([(s, h, k) for _, s, h, k in drafting])
        self.costs.observe_draft(sum(len(p) for p in proposals), seconds)
        for (spec, *_), proposal in zip(drafting, proposals, strict=True):
            spec.proposal, spec.source = proposal, "draft"
            if not proposal:
                spec.unconfident()


Drawn = tuple[int, Distribution | None]
"""A token sampled at one position, and the distribution there when logprobs are asked."""


def verify(
    model: LlamaModel, sampler: Sampler, spec: Speculation | None, last: int, logprobs: bool
) -> tuple[list[Drawn], int]:
    """Sample the positions of a sequence's proposal in order (its last evaluated token's
    logits are at batch index ``last`` less the proposal's length), stopping after the
    first token that differs from the proposal; the tokens drawn (the accepted proposal
    and one more) and how many proposed tokens were rejected (their cache to drop)."""
    proposal = spec.proposal if spec is not None else []
    first = last - len(proposal)
    drawn: list[Drawn] = []
    for offset in range(len(proposal) + 1):
        shown = distribution(model, first + offset) if logprobs else None
        token = sampler.sample(model, first + offset)
        drawn.append((token, shown))
        if offset == len(proposal) or token != proposal[offset] or model.is_eog(token):
            break
    accepted = len(drawn) - 1
    if spec is not None and proposal:
        spec.settle(accepted)
    return drawn, len(proposal) - accepted


def fit_proposal(spec: Speculation | None, pending: list[int], free: int) -> int:
    """Drop the end of the proposal at the end of ``pending`` (a sequence's tokens for the
    batch) that does not fit in ``free`` places; how many proposed tokens are left."""
    if spec is None or not spec.proposal:
        return 0
    over = min(max(0, len(pending) - free), len(spec.proposal))
    if over:
        del pending[-over:], spec.proposal[-over:]
    return len(spec.proposal)


def _average(old: float | None, new: float) -> float:
    return new if old is None else 0.9 * old + 0.1 * new
