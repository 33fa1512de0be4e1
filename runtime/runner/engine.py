"""Continuous batching over one llama.cpp context.

Up to ``num_parallel`` jobs (generation requests) each own a *slot*: a llama.cpp
sequence id whose KV cache holds the tokens in :attr:`Slot.tokens`. Every
:meth:`Engine.step` builds one batch with one token for each generating job and then as
much of the joining jobs' prompts as fits in ``n_batch``, decodes it once, and samples
the next token of every job whose logits it produced. Jobs join and leave between steps;
a cancelled job is gone before the next one.

A slot keeps its cache after its job ends. A new job takes the free slot that shares the
longest prefix with its prompt (the next turn of a chat), keeps that much of the cache,
and evaluates only the rest; when another slot (even a busy one) or a cache saved on disk
by an earlier runner holds a longer prefix, that is copied in instead
(:mod:`runtime.runner.prefix`, :mod:`runtime.runner.prompt_cache`, which saves the
slots' caches when the engine closes). Its last chunk still counts the whole prompt in
``prompt_eval_count`` (what a client pays for, as Ollama counts it), the part reused in
``cached_tokens``, and only the evaluation's time in ``prompt_eval_duration_ns``.

A generation that fills its sequence's context shifts it (:mod:`runtime.runner.shift`:
the oldest tokens after ``num_keep`` dropped, the newer ones' cache moved down) and goes
on, or ends with ``done_reason`` "length" when its request asks not to shift.

Embedding requests (:mod:`runtime.runner.embedding`) take one batch of theirs after each
generation step, so neither kind holds up the other, and a cancel reaches both before
their next step.

A request's ``context`` (the token ids an earlier answer returned in ``tokens``) goes
before its prompt as ids, not as text: the slot that answered the earlier request holds
exactly those ids, so the whole context is reused from its cache. With ``logprobs`` each
sampled token's log-probability (:mod:`runtime.runner.logprobs`) rides on the chunk
that carries its text (or the last one).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import count

from ladle.errors import ContextOverflowError, InvalidRequestError, RunnerError
from runtime.protocol import (
    DoneReason,
    GenerateChunk,
    GenerateRequest,
    TokenLogprob,
)

from .embedding import Embedder
from .logprobs import token_logprob
from .messages import ChunkGenerated, EmbeddingsComputed, RequestFailed
from .multimodal import MediaPrompt, Projector, admit_media, media_prompt
from .native import Batch, LlamaModel
from .prefix import CacheSource, CacheStats, common_prefix, prepare
from .prompt_cache import PromptCache
from .sampling import Sampler
from .shift import kept_tokens, predict_limit, shift, truncated
from .speculation import Speculation, Speculator, fit_proposal, verify
from .text import TextStream

Event = ChunkGenerated | EmbeddingsComputed | RequestFailed


@dataclass(eq=False)
class Job:
    """One generation request in flight."""

    id: int
    request: GenerateRequest
    prompt: list[int]
    sampler: Sampler
    text: TextStream
    keep: int = 0  # the first tokens a shift keeps
    limit: int = 0  # the most tokens to generate
    slot: Slot | None = None
    pending: list[int] = field(default_factory=list)  # to evaluate next
    in_batch: int = 0  # how many of ``pending`` the current batch holds
    logits_index: int = -1  # where the current batch puts this job's logits
    generating: bool = False
    cached: int = 0
    cache_source: CacheSource | None = None
    evaluated: int = 0
    generated: int = 0
    started_ns: int = 0
    first_token_ns: int = 0
    output: list[int] = field(default_factory=list)  # the tokens generated and shown
    shown: frozenset[int] = frozenset()  # control tokens rendered as text (``preserve``)
    logprobs: list[TokenLogprob] = field(default_factory=list)  # not sent yet
    spec: Speculation | None = None  # its speculative decoding, when it has one
    media: MediaPrompt | None = None  # its images, until they are evaluated


@dataclass(eq=False)
class Slot:
    """A llama.cpp sequence and the tokens its KV cache holds."""

    seq_id: int
    tokens: list[int] = field(default_factory=list)
    job: Job | None = None
    last_used: int = 0


class Engine:
    """Schedules generation jobs over the slots of one :class:`LlamaModel`."""

    def __init__(
        self, model: LlamaModel, draft: LlamaModel | None = None, projector: Projector | None = None
    ) -> None:
        self.model = model
        self.projector = projector  # reads a prompt's images (runtime.runner.multimodal)
        self.failed: list[Event] = []  # jobs failed while admitted, sent after the step
        self.speculator = Speculator.of(model, draft)
        self.slots = [Slot(seq_id) for seq_id in range(model.spec.num_parallel)]
        self.waiting: deque[Job] = deque()
        self.batch = Batch(model.n_batch)
        self.embedder = Embedder(model, self.batch)
        self._clock = count(1)
        self.stats = CacheStats()
        saved = model.spec.prompt_cache
        self.saved = PromptCache(saved, model) if saved is not None else None

    @property
    def busy(self) -> bool:
        """Whether a step has work to do."""
        return bool(self.waiting) or any(slot.job for slot in self.slots) or self.embedder.busy

    # Requests

    def submit(self, job_id: int, request: GenerateRequest) -> None:
        """Queue a request; raises :class:`LadleError` subclasses for one it refuses."""
        media = media_prompt(self.projector, request, self.model)
        prompt = media.tokens if media is not None else self._prompt_tokens(request)
        sampler = Sampler(
            self.model,
            request.sampling,
            grammar=request.grammar,
            ignore_eos=request.ignore_eos,
            grammar_after=request.grammar_after,
            grammar_unless=request.grammar_unless,
        )
        sampler.remember(media.text_tokens if media is not None else prompt)
        if media is not None:  # as llama.cpp's server: no context shift with images
            request = request.model_copy(update={"shift": False})
        job = Job(job_id, request, prompt, sampler, TextStream(request.stop), media=media)
        job.shown = self._control_tokens(request.preserve)
        n_ctx = self.model.n_ctx
        job.keep = kept_tokens(request.num_keep, prompt, self.model.bos, n_ctx)
        job.limit = predict_limit(request.num_predict, n_ctx)
        # Speculation would propose an image's placeholder ids: not with images.
        job.spec = self.speculator.start(request) if media is None else None
        self.waiting.append(job)

    def submit_embed(self, job_id: int, texts: list[str], truncate: bool) -> list[Event]:
        """Queue an embedding request (:mod:`runtime.runner.embedding`); a text longer
        than the context is cut when ``truncate``, else refused when its batch comes."""
        answered: list[Event] = [*self.embedder.submit(job_id, texts, truncate)]
        return answered

    def cancel(self, job_id: int) -> list[Event]:
        """Drop a job (its client is gone); unknown ids are ignored. A cancelled
        generation ends with a "cancelled" chunk; a cancelled embedding, silently."""
        if self.embedder.cancel(job_id):
            return []
        for job in self.waiting:
            if job.id == job_id:
                self.waiting.remove(job)
                job.sampler.close()
                return [self._final_chunk(job, "cancelled", "")]
        for slot in self.slots:
            if slot.job is not None and slot.job.id == job_id:
                return [self._finish(slot.job, "cancelled")]
        return []

    def _prompt_tokens(self, request: GenerateRequest) -> list[int]:
        """The context's ids, then the prompt's (text tokenized with the model's BOS only
        when nothing comes before it)."""
        model = self.model
        context = list(request.context)
        self._check_vocabulary(context, "context: a token id")
        if isinstance(request.prompt, str):
            tokens = context + model.tokenize(request.prompt, add_special=not context)
        else:
            self._check_vocabulary(request.prompt, "a prompt token")
            tokens = context + list(request.prompt)
        if not tokens:
            raise InvalidRequestError("the prompt is empty")
        if len(tokens) > model.n_ctx:
            if not request.truncate:
                raise ContextOverflowError(len(tokens), model.n_ctx)
            tokens = truncated(tokens, model.n_ctx, request.num_keep, request.num_predict)
        return tokens

    def _control_tokens(self, texts: Sequence[str]) -> frozenset[int]:
        """The ids of the texts that are one token each (a parser's markup that the
        vocabulary has as a control token); a text of several tokens is plain text and
        shows anyway."""
        ids = (self.model.tokenize(text, add_special=False, parse_special=True) for text in texts)
        return frozenset(tokens[0] for tokens in ids if len(tokens) == 1)

    def _check_vocabulary(self, tokens: Sequence[int], what: str) -> None:
        n_vocab = self.model.n_vocab
        if any(not 0 <= token < n_vocab for token in tokens):
            raise InvalidRequestError(f"{what} is outside the vocabulary of {n_vocab}")

    # Stepping

    def step(self) -> list[Event]:
        """One generation step, then one embedding batch; the events to send."""
        events = self._generate() + self.embedder.step()
        failed, self.failed = self.failed, []
        return failed + events

    def _generate(self) -> list[Event]:
        """Admit waiting jobs, decode one batch, sample; the events to send."""
        self._admit()
        jobs = self._fill_batch()
        if not jobs:
            return []
        started = time.perf_counter()
        code = self.model.decode(self.batch)
        if all(job.generating for job in jobs):  # what a verify batch costs (speculation)
            self.speculator.costs.observe(self.batch.n_tokens, time.perf_counter() - started)
        if code != 0:
            return [self._fail(job, f"llama_decode failed with status {code}") for job in jobs]
        events: list[Event] = []
        for job in jobs:
            slot = job.slot
            assert slot is not None
            slot.tokens += job.pending[: job.in_batch]
            if not job.generating:
                job.evaluated += job.in_batch
            del job.pending[: job.in_batch]
            if job.logits_index >= 0:
                events += self._sample(job)
        return events

    def _admit(self) -> None:
        while self.waiting:
            free = [slot for slot in self.slots if slot.job is None]
            if not free:
                return
            job = self.waiting.popleft()
            slot = max(free, key=lambda slot: _reuse_value(slot, job.prompt))
            job.started_ns = time.perf_counter_ns()  # a copy or a restore counts as eval
            # The prompt's longest cached prefix: this slot's, another's or a saved one.
            others = [other for other in self.slots if other is not slot]
            keep, source = prepare(self.model, slot, others, job.prompt, self.saved)
            self.stats.count(source, keep)
            slot.job, job.slot = job, slot
            job.cached, job.cache_source, job.pending = keep, source, job.prompt[keep:]
            if job.media is not None:
                self._admit_media(job, slot)
            if source == "shared":  # llama.cpp copies at the next decode: admit after it
                return

    def _admit_media(self, job: Job, slot: Slot) -> None:
        """Evaluate the prompt through its last image now (:mod:`.multimodal`)."""
        assert job.media is not None
        try:
            kept, end = admit_media(
                job.media, self.model, self.batch, slot.seq_id, slot.tokens, job.cached
            )
        except RunnerError as error:
            self.failed.append(self._fail(job, error.reason))
            return
        job.cached, job.evaluated, job.pending = kept, end - kept, job.prompt[end:]
        job.media = None

    def _fill_batch(self) -> list[Job]:
        """One token per generating job first (so they never wait on a long prompt),
        then prompt chunks."""
        batch = self.batch
        batch.clear()
        jobs = sorted((s.job for s in self.slots if s.job), key=lambda job: not job.generating)
        self._propose(jobs)
        in_batch = []
        for job in jobs:
            # Logits for the last token and for every proposed one (to verify them).
            with_logits = len(job.pending) - 1 - fit_proposal(job.spec, job.pending, batch.free)
            take = min(len(job.pending), batch.free)
            job.in_batch, job.logits_index = take, -1
            if take == 0:
                continue
            start = len(job.slot.tokens) if job.slot else 0
            seq_id = job.slot.seq_id if job.slot else 0
            for offset, token in enumerate(job.pending[:take]):
                index = batch.add(token, start + offset, seq_id, offset >= with_logits)
                job.logits_index = index if offset == len(job.pending) - 1 else -1
            in_batch.append(job)
        return in_batch

    def _sample(self, job: Job) -> list[Event]:
        """The job's next token, or with speculation the accepted proposal and one more
        (:func:`~runtime.runner.speculation.verify`); its chunk, or its end."""
        request, model = job.request, self.model
        drawn, rejected = verify(model, job.sampler, job.spec, job.logits_index, request.logprobs)
        if rejected:
            self._drop_rejected(job, rejected)
        text = ""
        for token, logprobs in drawn:
            if not job.generating:
                job.generating, job.first_token_ns = True, time.perf_counter_ns()
            if job.limit <= job.generated:
                return [self._finish(job, "length", text)]
            if model.is_eog(token) and not request.ignore_eos:
                return [self._finish(job, "stop", text)]
            job.generated += 1
            job.output.append(token)
            if logprobs is not None:
                job.logprobs.append(token_logprob(model, logprobs, token, request.top_logprobs))
            text += job.text.feed(model.piece(token, special=token in job.shown))
            if job.text.stopped:
                return [self._finish(job, "stop", text)]
            if job.generated == job.limit:
                return [self._finish(job, "length", text)]
        if (again := self._make_room(job)) is None:
            return [self._finish(job, "length", text)]
        job.pending = [*again, token]
        if not text:
            return []
        chunk = GenerateChunk(text=text, logprobs=tuple(job.logprobs))
        job.logprobs.clear()
        return [ChunkGenerated(id=job.id, chunk=chunk)]

    def _propose(self, jobs: list[Job]) -> None:
        """Proposals (speculation) after the last token of each generating job, within
        its context, its num_predict and, with a draft model, the draft's context."""
        wanted = []
        n_ctx = self.model.n_ctx
        for job in jobs:
            if job.spec is None or not job.generating or job.slot is None:
                continue
            history = job.prompt + job.output
            room = min(
                n_ctx - len(job.slot.tokens) - len(job.pending),
                n_ctx - len(history),  # the draft's sequence holds the whole history
                job.limit - job.generated - 1,
            )
            if room > 0:
                wanted.append((job, (job.spec, job.slot.seq_id, history, room)))
        self.speculator.propose([want for _, want in wanted])
        for job, (spec, *_) in wanted:
            job.pending += spec.proposal

    def _drop_rejected(self, job: Job, rejected: int) -> None:
        """Forget the last ``rejected`` tokens of the job's cache (proposals refused)."""
        slot = job.slot
        assert slot is not None
        if not self.model.forget(slot.seq_id, len(slot.tokens) - rejected):
            # Not for a KV cache: a verify batch keeps the window of its first position.
            raise RunnerError("llama.cpp could not drop the rejected proposals")
        del slot.tokens[-rejected:]

    def _make_room(self, job: Job) -> list[int] | None:
        """Room in ``job``'s sequence for its next token: none (None) when the context is
        full and the request may not shift it, else the tokens a shift needs evaluated
        again before it (usually none)."""
        slot = job.slot
        assert slot is not None
        if len(slot.tokens) < self.model.n_ctx:
            return []
        if not job.request.shift:
            return None
        return shift(self.model, slot.seq_id, slot.tokens, job.keep)

    # Leaving

    def _finish(self, job: Job, reason: DoneReason, text: str = "") -> ChunkGenerated:
        self._release(job)
        return self._final_chunk(job, reason, text + job.text.flush())

    def _fail(self, job: Job, message: str) -> RequestFailed:
        slot = job.slot
        self._release(job)
        if slot is not None:  # its cache may hold part of the failed batch
            self.model.forget(slot.seq_id)
            slot.tokens.clear()
        return RequestFailed(id=job.id, kind="runner", message=message)

    def fail_all(self, message: str) -> list[Event]:
        """Fail every job (after an unexpected error) and start from empty caches."""
        jobs = [*self.waiting, *(slot.job for slot in self.slots if slot.job)]
        self.waiting.clear()
        failed: list[Event] = [self._fail(job, message) for job in jobs]
        return failed + self.embedder.fail_all(message)

    def _release(self, job: Job) -> None:
        job.sampler.close()
        if job.slot is not None:
            job.slot.job, job.slot.last_used = None, next(self._clock)

    def _final_chunk(self, job: Job, reason: DoneReason, text: str) -> ChunkGenerated:
        now = time.perf_counter_ns()
        started = job.started_ns or now
        first = job.first_token_ns or now
        chunk = GenerateChunk(
            text=text,
            done=True,
            done_reason=reason,
            prompt_eval_count=job.cached + job.evaluated,
            prompt_eval_duration_ns=first - started,
            eval_count=job.generated,
            eval_duration_ns=now - first,
            cached_tokens=job.cached,
            draft_count=job.spec.drafted if job.spec else 0,
            draft_accepted_count=job.spec.accepted if job.spec else 0,
            cache_source=job.cache_source,
            logprobs=tuple(job.logprobs),
            tokens=tuple(job.prompt + job.output) if job.request.return_tokens else None,
        )
        return ChunkGenerated(id=job.id, chunk=chunk)

    def close(self) -> None:
        """Save the slots' caches (when the spec asks), then fail whatever is left."""
        if self.saved is not None:
            self.saved.save(self.model, self.slots)
        self.fail_all("the runner is shutting down")
        self.batch.close()
        if self.speculator.drafter is not None:
            self.speculator.drafter.close()


def _reuse_value(slot: Slot, prompt: Sequence[int]) -> tuple[int, int]:
    """How good ``slot`` is for ``prompt``: best a cache the prompt extends (the next turn
    of a chat), then one sharing at least half its tokens with it; otherwise the least
    recently used slot, so that a conversation's cache is not spent on a stranger.
    (llama.cpp's server picks slots by a similar measure.)"""
    common = common_prefix(slot.tokens, prompt)
    if common and common == len(slot.tokens):
        return 2, common
    if common and 2 * common >= len(slot.tokens):
        return 1, common
    return 0, -slot.last_used
