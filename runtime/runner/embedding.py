"""Embedding requests, computed a batch at a time between the engine's generation steps.

An embedding request may hold many thousands of texts. Computing them all in one go
would keep the runner from everything else (generation steps, a cancel) until the last
one: a client that gave up would still hold the runner for minutes. So a request is an
:class:`EmbedJob`, and each :meth:`Embedder.step` computes one *embedding batch* of one
job: its next texts, as many as fit in the context's batch and at most
:data:`BATCH_TEXTS` (at least one), each decoded alone in the sequence kept for
embeddings. The vectors of a batch leave at once, in an
:class:`~runtime.runner.messages.EmbeddingsComputed` event; the last one says ``done``
and counts the tokens. Jobs take turns, a batch each, so a small request is not stuck
behind a huge one, and a cancelled job is gone before the next batch.

A text is tokenized when its batch comes, so a text too long for the context (without
``truncate``) fails its request when it is reached, with the vectors sent so far
discarded by the server.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from ladle.errors import ContextOverflowError, InvalidRequestError, LadleError

from .messages import EmbeddingsComputed, RequestFailed, failure_of
from .native import Batch, LlamaModel

Event = EmbeddingsComputed | RequestFailed

BATCH_TEXTS = 32
"""The most texts in one embedding batch: short texts fill a batch's tokens slowly, one
decode each, and a cancel or a generation step waits for the batch to end."""


@dataclass(eq=False)
class EmbedJob:
    """One embedding request in flight."""

    id: int
    texts: Sequence[str]
    truncate: bool
    done: int = 0  # texts embedded so far
    evaluated: int = 0  # their tokens
    next_tokens: list[int] | None = field(default=None)  # the next text's, if tokenized

    @property
    def finished(self) -> bool:
        return self.done == len(self.texts)


class Embedder:
    """Embedding jobs over one :class:`LlamaModel`, one batch per :meth:`step`."""

    def __init__(self, model: LlamaModel, batch: Batch) -> None:
        self.model, self.batch = model, batch
        self.jobs: deque[EmbedJob] = deque()

    @property
    def busy(self) -> bool:
        return bool(self.jobs)

    def submit(self, job_id: int, texts: Sequence[str], truncate: bool) -> list[Event]:
        """Queue a request (refused when the runner was not loaded for embeddings); an
        empty one is answered at once."""
        if not self.model.spec.embedding:
            raise InvalidRequestError("this runner was not loaded for embeddings")
        job = EmbedJob(job_id, texts, truncate)
        if job.finished:
            return [EmbeddingsComputed(id=job_id, vectors=[], done=True)]
        self.jobs.append(job)
        return []

    def cancel(self, job_id: int) -> bool:
        """Drop a job (its client is gone); False if there is none by that id."""
        for job in self.jobs:
            if job.id == job_id:
                self.jobs.remove(job)
                return True
        return False

    def step(self) -> list[Event]:
        """One embedding batch of the job whose turn it is; the events to send."""
        if not self.jobs:
            return []
        job = self.jobs.popleft()
        try:
            vectors = self._batch(job)
        except LadleError as error:
            return [failure_of(job.id, error)]
        if not job.finished:
            self.jobs.append(job)  # its next batch after the other jobs'
            return [EmbeddingsComputed(id=job.id, vectors=vectors)]
        done = EmbeddingsComputed(
            id=job.id, vectors=vectors, done=True, prompt_eval_count=job.evaluated
        )
        return [done]

    def fail_all(self, message: str) -> list[Event]:
        """Fail every job (the runner is stopping, or a step failed unexpectedly)."""
        failed: list[Event] = [
            RequestFailed(id=job.id, kind="runner", message=message) for job in self.jobs
        ]
        self.jobs.clear()
        return failed

    def _batch(self, job: EmbedJob) -> list[list[float]]:
        """The vectors of ``job``'s next texts, as many as fit in one batch (one at least)."""
        budget, vectors = self.batch.capacity, list[list[float]]()
        self.model.set_embeddings(True)
        try:
            while not job.finished:
                tokens = job.next_tokens or self._tokens(job.texts[job.done], job.truncate)
                if vectors and (len(tokens) > budget or len(vectors) == BATCH_TEXTS):
                    job.next_tokens = tokens  # the next batch starts with it
                    break
                job.next_tokens = None
                vectors.append(_normalised(self._embed_one(tokens)))
                budget -= len(tokens)
                job.done, job.evaluated = job.done + 1, job.evaluated + len(tokens)
        finally:
            self.model.set_embeddings(False)
        return vectors

    def _tokens(self, text: str, truncate: bool) -> list[int]:
        """``text``'s tokens with those the model adds (BOS, EOS; CLS, SEP), within the
        context: a longer text fails unless ``truncate``, which cuts the text's own
        tokens and keeps the added ones, as Ollama's EmbedHandler leaves room for them.
        A context too small for the added tokens and one of the text's fails either way
        (Ollama: "input after truncation exceeds maximum context length")."""
        model, n_ctx = self.model, self.model.n_ctx
        tokens = model.tokenize(text, parse_special=False)
        if not tokens:
            raise InvalidRequestError("cannot embed an empty text with this model")
        if len(tokens) <= n_ctx:
            return tokens
        if not truncate:
            raise ContextOverflowError(len(tokens), n_ctx)
        own = model.tokenize(text, add_special=False, parse_special=False)
        start = _find(tokens, own)
        added = len(tokens) - len(own) if start >= 0 else 0
        room = n_ctx - added
        if room < 1:
            raise InvalidRequestError(
                "input after truncation exceeds maximum context length: the context of "
                f"{n_ctx} tokens cannot hold the {added} tokens the model adds to every "
                "input and any of the text; raise num_ctx"
            )
        if start < 0:  # the added tokens cannot be told apart: cut the whole
            return tokens[:n_ctx]
        return tokens[:start] + own[:room] + tokens[start + len(own) :]

    def _embed_one(self, tokens: list[int]) -> list[float]:
        model, batch, seq_id = self.model, self.batch, self.model.embed_seq_id
        batch.clear()
        for pos, token in enumerate(tokens):
            batch.add(token, pos, seq_id, True)
        try:
            if (code := model.decode(batch)) != 0:
                raise LadleError(f"llama_decode failed with status {code}")
            return model.pooled_embedding(seq_id)
        finally:
            model.forget(seq_id)


def _find(tokens: Sequence[int], part: Sequence[int]) -> int:
    """Where ``part`` starts in ``tokens`` (searched from the start), or -1."""
    for start in range(len(tokens) - len(part) + 1):
        if tokens[start : start + len(part)] == part:
            return start
    return -1


def _normalised(vector: list[float]) -> list[float]:
    norm = math.sqrt(math.fsum(x * x for x in vector))
    return [x / norm for x in vector] if norm > 0 else vector
