"""The scheduler: which models are loaded, and which runner serves each request.

Rules (Ollama's, with ladle's settings):

- A model is loaded on its first request and stays loaded for ``keep_alive`` after its
  last one (:mod:`ladle.keep_alive`); the latest request's ``keep_alive`` wins, and the
  clock restarts when the last request in flight finishes.
- At most ``max_loaded_models`` runners exist, and a model loads only where it fits
  beside the others (:mod:`runtime.eviction`): to make room, idle runners are unloaded,
  the one that would expire soonest first; one with requests in flight never is. When
  the idle ones are not enough, the request waits and the busy runner with the fewest
  requests is *drained* — it takes no new requests and unloads when they finish. A
  model that cannot fit even alone is refused (``InsufficientMemoryError``) at once.
- One load at a time; unloads finish (memory is freed) before the next load starts.
  Requests for a model that is loading wait for that load and share its outcome.
  (Loading, keeping and unloading runners is :class:`runtime.pool.RunnerPool`'s part.)
- A runner serves ``num_parallel`` requests at once. Requests that cannot run at once
  (waiting for a load, for room, or for a slot) are queued; when ``max_queue`` are
  already waiting, the next is refused at once with :class:`QueueFullError`.
- Every request's name is resolved once, before admission (:meth:`Scheduler.resolve`,
  :mod:`runtime.images`): the scheduler reads nothing itself. A runner whose tag now
  points to another image, or that was asked for with other load-time options
  (:mod:`runtime.loading`), or whose process died, or whose tag was deleted, is retired:
  its requests in flight finish, later ones get a new runner (or ModelNotFoundError).
- A request whose caller is cancelled (its client went away) leaves at once, wherever it
  waits: for a load, for room, or for a slot; running, it gives its slot back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TypeVar

from builder.store.names import ModelName
from builder.store.store import Store
from ladle.errors import ModelNotFoundError, QueueFullError, SchedulerError
from ladle.keep_alive import KeepAlive, keep_alive_seconds
from ladle.settings import Settings
from runtime.eviction import Sizing, price
from runtime.images import ImageCache, ResolvedModel
from runtime.loaded import LoadedModel, LoadedRunner, ModelRequest, PsEntry
from runtime.loading import load_spec, prompt_cache_spec
from runtime.pool import SHUTTING_DOWN, Clock, RunnerFactory, RunnerPool

__all__ = ["RETRY_AFTER_S", "Clock", "RunnerFactory", "Scheduler"]

T = TypeVar("T")

RETRY_AFTER_S = 2
"""The ``Retry-After`` a full queue suggests, in seconds."""


class Scheduler:
    """Loads, shares, keeps and unloads runners for the requests of one server."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        start_runner: RunnerFactory,
        clock: Clock = time.monotonic,
    ) -> None:
        self.images = ImageCache(store)
        """The images requests are served from (the server's only image cache)."""
        self._settings = settings
        self._pool = RunnerPool(settings, start_runner, clock)
        self._waiting = 0

    # -- requests ----------------------------------------------------------

    async def resolve(self, name: str | ModelName) -> ResolvedModel:
        """The image tagged ``name``, read off the event loop; ``InvalidNameError``, or
        ``ModelNotFoundError`` after retiring the runners of a tag that is gone."""
        model, _ = await self.prepare(name, lambda model: None)
        return model

    async def prepare(
        self, name: str | ModelName, then: Callable[[ResolvedModel], T]
    ) -> tuple[ResolvedModel, T]:
        """:meth:`resolve`, with ``then`` run on the image in the same worker thread (the
        server renders the prompt there: one hop off the event loop, not two)."""
        model_name = ModelName.parse(name) if isinstance(name, str) else name
        images = self.images

        def work() -> tuple[ResolvedModel, T]:
            model = images.resolve(model_name)
            return model, then(model)

        try:
            return await asyncio.to_thread(work)
        except ModelNotFoundError:
            self.forget(model_name)  # on the loop: the scheduler is not thread-safe
            raise

    def forget(self, name: ModelName) -> None:
        """The tag ``name`` is gone: its runners take no new requests and are unloaded when
        their requests in flight finish, and its images are no longer kept."""
        for runner in self._pool.named(name):
            self._pool.retire(runner)
        self.images.forget(name)

    @contextlib.asynccontextmanager
    async def use(
        self,
        model: ResolvedModel | str,
        options: Mapping[str, Any] | None = None,
        keep_alive: KeepAlive = None,
        *,
        embedding: bool = False,
    ) -> AsyncIterator[LoadedModel]:
        """Run one request on ``model``'s runner, loading it first if need be. The server
        passes the model it resolved; a name is resolved here first (:meth:`resolve`).

        Raises ``ModelNotFoundError``, ``InvalidNameError``, ``InvalidOptionError``,
        ``QueueFullError``, ``SchedulerError`` (closed) or what starting the runner raised.
        """
        self._check_open()
        self._pool.start_expiry()
        if isinstance(model, str):
            model = await self.resolve(model)
        runner = await self._admit(self._request(model, options, keep_alive, embedding))
        try:
            yield runner.model
        finally:
            runner.slots.release()
            self._pool.release(runner)

    async def load_only(
        self,
        name: str | ModelName,
        keep_alive: KeepAlive = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        """Load ``name`` without a request (a generate with an empty prompt); a
        ``keep_alive`` of 0 unloads it instead, as ``ollama stop`` asks. A name that is not
        in the store is ``ModelNotFoundError`` either way (after unloading it, so that a
        model deleted while loaded can still be stopped)."""
        if keep_alive_seconds(keep_alive, self._settings.keep_alive) == 0:
            await self.unload(name)
            await self.resolve(name)
            return
        async with self.use(await self.resolve(name), options, keep_alive):
            pass

    async def unload(self, name: str | ModelName) -> bool:
        """Unload ``name`` now, or when its requests in flight finish; False if not loaded."""
        mine = self._pool.named(ModelName.parse(name) if isinstance(name, str) else name)
        closing = []
        for runner in mine:
            runner.keep_alive = 0
            if (task := self._pool.retire(runner)) is not None:
                closing.append(task)
        if closing:
            await asyncio.wait(closing)
        return bool(mine)

    @property
    def queued(self) -> int:
        """Requests waiting now (for a load, for room, or for a slot)."""
        return self._waiting

    def ps(self) -> list[PsEntry]:
        """The loaded models, the one that will stay longest first (as ``ollama ps``)."""
        return self._pool.ps()

    async def expire_idle(self) -> None:
        """Unload every idle runner whose time is up (or whose process died)."""
        await self._pool.expire_idle()

    async def close(self) -> None:
        """Stop taking requests, cancel the load in progress and unload every runner: the
        requests still waiting or running fail (``the server is shutting down``)."""
        await self._pool.close()

    # -- admission ---------------------------------------------------------

    def _request(
        self,
        model: ResolvedModel,
        options: Mapping[str, Any] | None,
        keep_alive: KeepAlive,
        embedding: bool,
    ) -> ModelRequest:
        settings = self._settings
        seconds = keep_alive_seconds(keep_alive, settings.keep_alive)
        spec = load_spec(
            model.image,
            options,
            num_parallel=settings.num_parallel,
            embedding=embedding,
            runner_timeout=settings.runner_timeout,
            kv_cache_type=settings.kv_cache_type,
            flash_attention=settings.flash_attention,
            context_length=settings.context_length,
        )
        folder = settings.prompt_cache_folder
        saved = prompt_cache_spec(model.image.model_path, folder, settings.cache_max)
        spec = spec.model_copy(update={"prompt_cache": saved})
        return ModelRequest(model, spec, seconds)

    async def _admit(self, request: ModelRequest) -> LoadedRunner:
        """A runner for ``request`` with one of its slots taken."""
        runner = self._current(request)
        if runner is not None and not runner.slots.locked():
            runner.take(request.keep_alive)
            await runner.slots.acquire()  # a free slot: returns without waiting
            return runner
        if self._waiting >= self._settings.max_queue:
            raise QueueFullError(self._waiting, RETRY_AFTER_S)
        self._waiting += 1
        try:
            runner = await self._assign(request)
            try:
                await runner.slots.acquire()
            except BaseException:
                self._pool.release(runner)
                raise
            if self._pool.closed:  # waited for a slot while the server shut down
                runner.slots.release()
                self._pool.release(runner)
                self._check_open()
            return runner
        finally:
            self._waiting -= 1

    async def _assign(self, request: ModelRequest) -> LoadedRunner:
        """A runner for ``request``, counted as in flight: loaded, or loaded for it."""
        pool = self._pool
        sizing: Sizing | None = None
        while True:
            self._check_open()
            runner = self._current(request)
            if runner is not None:
                runner.take(request.keep_alive)
                return runner
            if pool.pending is None and sizing is None and pool.planner is not None:
                sizing = await price(pool.planner, request)
                continue  # things may have changed meanwhile
            if pool.pending is None and pool.make_room(sizing):
                pool.start_load(request, sizing)
            if pool.pending is not None and pool.pending.matches(request):
                return await pool.pending.wait(request.keep_alive, pool.release)
            await pool.changed()

    def _current(self, request: ModelRequest) -> LoadedRunner | None:
        """The runner serving ``request``'s model, if it can serve this request; one that
        cannot (other image, other options, dead) is retired."""
        for runner in self._pool.named(request.name):
            if runner.retired:
                continue
            if runner.fits(request.digest, request.spec):
                return runner
            self._pool.retire(runner)
        return None

    def _check_open(self) -> None:
        if self._pool.closed:
            raise SchedulerError(SHUTTING_DOWN)
