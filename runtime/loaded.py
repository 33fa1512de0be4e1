"""What the scheduler knows about each loaded model: the view a request gets, the
bookkeeping behind it, the ``ps`` entry it shows, and the load in progress."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from builder.store.image import Image
from builder.store.names import ModelName
from runtime.images import ResolvedModel
from runtime.memory import NOTHING, Footprint, processor
from runtime.protocol import GenerateChunk, LoadSpec, RunnerHandle

FOREVER_DELTA = timedelta(microseconds=(2**63 - 1) // 1000)
"""How far ahead ``ps`` dates a model kept forever: Ollama's ``time.Duration(MaxInt64)``,
about 292 years, so its clients read the same kind of date."""


@dataclass
class CacheHits:
    """A runner's prompt cache hits by where they came from (the slot's own cache,
    another slot's, a file saved on disk) and the prompt tokens they saved."""

    memory: int = 0
    shared: int = 0
    disk: int = 0
    tokens_saved: int = 0

    def count(self, final: GenerateChunk) -> None:
        """Count one finished request by its last chunk's ``cache_source``."""
        if final.cache_source is None or not final.cached_tokens:
            return
        setattr(self, final.cache_source, getattr(self, final.cache_source) + 1)
        self.tokens_saved += final.cached_tokens


@dataclass
class Speculated:
    """A runner's speculative decoding so far: tokens proposed (by its draft model or
    n-gram lookup) and, of those, accepted."""

    drafted: int = 0
    accepted: int = 0

    def count(self, final: GenerateChunk) -> None:
        """Count one finished request by its last chunk."""
        self.drafted += final.draft_count
        self.accepted += final.draft_accepted_count

    @property
    def acceptance_rate(self) -> float | None:
        """Accepted of proposed (None before any proposal)."""
        return self.accepted / self.drafted if self.drafted else None


@dataclass(frozen=True)
class LoadedModel:
    """A loaded model as one request uses it."""

    name: ModelName
    image: Image
    digest: str
    """The manifest digest the runner was loaded from (``sha256:…``)."""
    spec: LoadSpec
    """What was asked for; ``handle.info.load`` is what the runner made of it."""
    handle: RunnerHandle
    cache_hits: CacheHits = field(default_factory=CacheHits, compare=False)
    """Its requests' prompt cache hits so far (``ps``)."""
    speculation: Speculated = field(default_factory=Speculated, compare=False)
    """Its requests' speculative decoding so far (``ps``)."""


class PsEntry(BaseModel):
    """One loaded model, as ``/api/ps`` and ``ladle ps`` show it."""

    model_config = ConfigDict(frozen=True)

    name: str
    model: str
    digest: str
    size: int
    size_vram: int
    processor: str
    context_length: int
    expires_at: datetime
    kv_cache_type: str = "f16"
    """The KV cache's element type (``f16``, ``q8_0``, ``q4_0``)."""
    flash_attention: bool | None = None
    """Whether llama.cpp runs flash attention for it (None: it did not say)."""
    kv_cache_bytes: int = 0
    """The KV cache's planned size, for every sequence (0: not planned)."""
    cache_hits: CacheHits = CacheHits()
    """Its prompt cache hits and the tokens they saved (a copy)."""
    draft: str | None = None
    """Its draft model (speculative decoding): the weights' digest, or file name."""
    speculation: Speculated = Speculated()
    """Tokens proposed and accepted by speculative decoding (a copy)."""


@dataclass(eq=False)
class LoadedRunner:
    """The scheduler's bookkeeping for one runner."""

    model: LoadedModel
    keep_alive: float
    """Seconds to stay loaded after the last request (the latest request's choice)."""
    slots: asyncio.Semaphore
    """``num_parallel`` requests run at once; the rest wait here (and count as queued)."""
    expires: float = math.inf
    """When idle: the scheduler clock's time at which it is unloaded."""
    refs: int = 0
    """Requests given this runner: running, or waiting for one of its slots."""
    retired: bool = field(default=False)
    """Takes no new requests (deleted, retagged, other options, died, draining) and is
    unloaded when its last request finishes."""
    footprint: Footprint = NOTHING
    """The memory it was planned to take (nothing known: :data:`runtime.memory.NOTHING`)."""

    def fits(self, digest: str, spec: LoadSpec) -> bool:
        """Whether a request for ``digest`` with ``spec`` may run on this runner."""
        return (
            not self.retired
            and self.model.handle.alive
            and self.model.digest == digest
            and self.model.spec == spec
        )

    def take(self, keep_alive: float) -> None:
        """Count one more request; its ``keep_alive`` applies from now on."""
        self.refs += 1
        self.keep_alive = keep_alive

    def ps_entry(self, now: float, wall: datetime) -> PsEntry:
        """The ``ps`` line; ``now`` is the scheduler clock's time, ``wall`` the date now."""
        info = self.model.handle.info
        remaining = (now + self.keep_alive if self.refs else self.expires) - now
        # Past Go's longest Duration (a huge keep_alive) is forever, as for infinity.
        forever = remaining >= FOREVER_DELTA.total_seconds()
        delta = FOREVER_DELTA if forever else timedelta(seconds=max(remaining, 0))
        name = self.model.name.display()
        return PsEntry(
            name=name,
            model=name,
            digest=self.model.digest,
            size=info.size_bytes,
            size_vram=info.vram_bytes,
            processor=processor(info.size_bytes, info.vram_bytes),
            context_length=info.load.n_ctx,
            expires_at=wall + delta,
            kv_cache_type=info.load.kv_cache_type,
            flash_attention=info.flash_attention,
            kv_cache_bytes=info.kv_cache_bytes,
            cache_hits=replace(self.model.cache_hits),
            draft=draft_name(info.load.draft_path),
            speculation=replace(self.model.speculation),
        )


def draft_name(path: Path | None) -> str | None:
    """A draft model as ``ps`` names it: its blob's digest, else its file's name."""
    if path is None:
        return None
    name = path.name
    return name.replace("sha256-", "sha256:", 1) if name.startswith("sha256-") else name


@dataclass(frozen=True)
class ModelRequest:
    """What one request needs: a model, from one manifest, loaded one way."""

    model: ResolvedModel
    spec: LoadSpec
    keep_alive: float

    @property
    def name(self) -> ModelName:
        return self.model.name

    @property
    def digest(self) -> str:
        return self.model.digest

    def loaded(self, handle: RunnerHandle) -> LoadedModel:
        """The model as its requests use it, once ``handle`` has loaded it."""
        return LoadedModel(self.name, self.model.image, self.digest, self.spec, handle)


@dataclass(eq=False)
class PendingLoad:
    """The load in progress, and the requests waiting for it."""

    request: ModelRequest
    waiters: list[tuple[asyncio.Future[LoadedRunner], float]] = field(default_factory=list)

    def matches(self, request: ModelRequest) -> bool:
        mine = self.request
        return (mine.name.key(), mine.digest, mine.spec) == (
            request.name.key(),
            request.digest,
            request.spec,
        )

    def attach(self, keep_alive: float) -> asyncio.Future[LoadedRunner]:
        future: asyncio.Future[LoadedRunner] = asyncio.get_running_loop().create_future()
        self.waiters.append((future, keep_alive))
        return future

    async def wait(
        self, keep_alive: float, release: Callable[[LoadedRunner], None]
    ) -> LoadedRunner:
        """The runner once loaded, counted as in flight; a waiter cancelled after the load
        handed it the runner gives the request back with ``release``."""
        future = self.attach(keep_alive)
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.exception() is None:
                release(future.result())
            raise

    def deliver(self, runner: LoadedRunner) -> None:
        """Give the runner to every waiter still there, counting each as in flight."""
        for future, keep_alive in self.waiters:
            if not future.done():
                runner.take(keep_alive)
                future.set_result(runner)

    def fail(self, error: BaseException) -> bool:
        """Raise ``error`` in every waiter still there; False if none was left to hear it."""
        told = False
        for future, _ in self.waiters:
            if not future.done():
                future.set_exception(error)
                told = True
        return told
