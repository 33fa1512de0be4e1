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
- A runner serves ``num_parallel`` requests at once. Requests that cannot run at once
  (waiting for a load, for room, or for a slot) are queued; when ``max_queue`` are
  already waiting, the next is refused at once with :class:`QueueFullError`.
- Every request's name is resolved once, before admission (:meth:`Scheduler.resolve`,
  :mod:`runtime.images`): the scheduler reads nothing itself. A runner whose tag now
  points to another image, or that was asked for with other load-time options
  (:mod:`runtime.loading`), or whose process died, or whose tag was deleted, is retired:
  its requests in flight finish, later ones get a new runner (or ModelNotFoundError).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from builder.gguf.file import GGUFInfo
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.errors import ModelNotFoundError, QueueFullError, SchedulerError
from ladle.keep_alive import KeepAlive, keep_alive_seconds
from ladle.settings import Settings
from runtime.eviction import PlanningFactory, Sizing, footprint, price, to_drain, to_unload
from runtime.images import ImageCache, ResolvedModel
from runtime.loaded import LoadedModel, LoadedRunner, ModelRequest, PendingLoad, PsEntry
from runtime.loading import load_spec
from runtime.memory import Footprint
from runtime.protocol import LoadSpec, RunnerHandle

T = TypeVar("T")


class RunnerFactory(Protocol):
    """Starts a runner for a spec and waits until it is loaded: ``runtime.runner``'s
    ``start_runner`` (wrapped by the memory planner), or a fake in tests. ``model_name``
    is how its errors name the model; ``gguf`` is the header of ``load.model_path``,
    already inspected (``None`` when the image has no weights)."""

    def __call__(
        self, load: LoadSpec, /, *, model_name: str, gguf: GGUFInfo | None
    ) -> Awaitable[RunnerHandle]: ...


Clock = Callable[[], float]

RETRY_AFTER_S = 2
"""The ``Retry-After`` a full queue suggests, in seconds."""

logger = logging.getLogger(__name__)


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
        self._start_runner = start_runner
        self._planner = start_runner if isinstance(start_runner, PlanningFactory) else None
        self._clock = clock
        self._runners: list[LoadedRunner] = []
        self._pending: PendingLoad | None = None
        self._load_task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._waiting = 0
        self._expiry: asyncio.Task[None] | None = None
        self._closed = False

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
        for runner in self._runners_named(name):
            self._retire(runner)
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
        self._start_expiry()
        if isinstance(model, str):
            model = await self.resolve(model)
        runner = await self._admit(self._request(model, options, keep_alive, embedding))
        try:
            yield runner.model
        finally:
            runner.slots.release()
            self._release(runner)

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
        mine = self._runners_named(ModelName.parse(name) if isinstance(name, str) else name)
        closing = []
        for runner in mine:
            runner.keep_alive = 0
            if (task := self._retire(runner)) is not None:
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
        now, wall = self._clock(), datetime.now(UTC)
        entries = [r.ps_entry(now, wall) for r in self._runners if r.model.handle.alive]
        return sorted(entries, key=lambda entry: entry.expires_at, reverse=True)

    async def expire_idle(self) -> None:
        """Unload every idle runner whose time is up (or whose process died)."""
        now = self._clock()
        for runner in list(self._runners):
            if runner.refs == 0 and (runner.expires <= now or not runner.model.handle.alive):
                self._retire(runner)
        await self._closes_done()

    async def close(self) -> None:
        """Stop taking requests, cancel the load in progress and unload every runner."""
        self._closed = True
        for task in (self._expiry, self._load_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for runner in list(self._runners):
            self._retire(runner, force=True)
        self._notify()
        await self._closes_done()

    # -- admission ---------------------------------------------------------

    def _request(
        self,
        model: ResolvedModel,
        options: Mapping[str, Any] | None,
        keep_alive: KeepAlive,
        embedding: bool,
    ) -> ModelRequest:
        seconds = keep_alive_seconds(keep_alive, self._settings.keep_alive)
        spec = load_spec(
            model.image, options, num_parallel=self._settings.num_parallel, embedding=embedding
        )
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
                self._release(runner)
                raise
            if self._closed:  # waited for a slot while the server shut down
                runner.slots.release()
                self._release(runner)
                self._check_open()
            return runner
        finally:
            self._waiting -= 1

    async def _assign(self, request: ModelRequest) -> LoadedRunner:
        """A runner for ``request``, counted as in flight: loaded, or loaded for it."""
        sizing: Sizing | None = None
        while True:
            self._check_open()
            runner = self._current(request)
            if runner is not None:
                runner.take(request.keep_alive)
                return runner
            if self._pending is None and sizing is None and self._planner is not None:
                sizing = await price(self._planner, request)
                continue  # things may have changed meanwhile
            if self._pending is None and self._make_room(sizing):
                self._start_load(request, sizing)
            if self._pending is not None and self._pending.matches(request):
                return await self._pending.wait(request.keep_alive, self._release)
            await self._changed.wait()

    def _current(self, request: ModelRequest) -> LoadedRunner | None:
        """The runner serving ``request``'s model, if it can serve this request; one that
        cannot (other image, other options, dead) is retired."""
        for runner in self._runners_named(request.name):
            if runner.retired:
                continue
            if runner.fits(request.digest, request.spec):
                return runner
            self._retire(runner)
        return None

    def _release(self, runner: LoadedRunner) -> None:
        """One request on ``runner`` finished (or gave up waiting for a slot)."""
        runner.refs -= 1
        if runner.refs == 0:
            self._idle(runner)
        self._notify()

    def _idle(self, runner: LoadedRunner) -> None:
        """``runner``'s last request finished: its keep-alive time starts now."""
        dead = not runner.model.handle.alive
        if runner.retired or dead or runner.keep_alive == 0 or self._closed:
            self._retire(runner)
        else:
            runner.expires = self._clock() + runner.keep_alive

    # -- loading and unloading ---------------------------------------------

    def _make_room(self, sizing: Sizing | None) -> bool:
        """Whether a load may start now, after unloading idle runners if needed."""
        idle = to_unload(self._runners, self._settings.max_loaded_models, sizing)
        if idle is not None:
            for runner in idle:
                self._retire(runner)
            return True
        if (draining := to_drain(self._runners)) is not None:
            draining.retired = True  # no new requests; unloaded when idle
        return False

    def _start_load(self, request: ModelRequest, sizing: Sizing | None) -> None:
        pending = PendingLoad(request)
        self._pending = pending
        self._load_task = asyncio.create_task(
            self._load(pending, sizing), name=f"ladle-load-{request.name.display()}"
        )

    async def _load(self, pending: PendingLoad, sizing: Sizing | None) -> None:
        request = pending.request
        try:
            await self._closes_done()  # the memory of unloaded runners is free again
            started = time.perf_counter()
            handle = await self._start(request, footprint(self._runners))
        except asyncio.CancelledError:  # close() stops the load
            self._load_failed(pending, SchedulerError("the server is shutting down"))
            raise
        except Exception as error:
            self._load_failed(pending, error)
            return
        model = request.loaded(handle)
        slots = asyncio.Semaphore(self._settings.num_parallel)
        runner = LoadedRunner(model, request.keep_alive, slots)
        if sizing is not None:
            runner.footprint = sizing.footprint(handle.info.load.n_gpu_layers)
        logger.info("loaded %s in %.2f s", model.name.display(), time.perf_counter() - started)
        self._runners.append(runner)
        self._pending = None
        pending.deliver(runner)
        if runner.refs == 0:  # every request that wanted it went away
            self._idle(runner)
        self._notify()

    async def _start(self, request: ModelRequest, beside: Footprint) -> RunnerHandle:
        """Start ``request``'s runner beside loaded runners taking ``beside``."""
        name, gguf = request.name.display(), request.model.gguf
        if self._planner is None:
            return await self._start_runner(request.spec, model_name=name, gguf=gguf)
        return await self._planner(request.spec, model_name=name, gguf=gguf, beside=beside)

    def _load_failed(self, pending: PendingLoad, error: Exception) -> None:
        self._pending = None
        if not pending.fail(error):
            logger.warning("loading %s failed: %s", pending.request.name.display(), error)
        self._notify()

    def _retire(self, runner: LoadedRunner, *, force: bool = False) -> asyncio.Task[None] | None:
        """Take no new requests on ``runner``; unload it now if idle (or ``force``).

        Returns the unloading task, if this call started one.
        """
        runner.retired = True
        if (runner.refs and not force) or runner not in self._runners:
            return None
        self._runners.remove(runner)
        name = f"ladle-unload-{runner.model.name.display()}"
        task = asyncio.create_task(self._close_runner(runner), name=name)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        self._notify()
        return task

    async def _close_runner(self, runner: LoadedRunner) -> None:
        try:
            await runner.model.handle.close()
            logger.info("unloaded %s", runner.model.name.display())
        except Exception:
            logger.exception("unloading %s failed", runner.model.name.display())
        finally:
            self._notify()

    async def _closes_done(self) -> None:
        while self._closing:
            await asyncio.wait(set(self._closing))

    # -- expiry ------------------------------------------------------------

    def _start_expiry(self) -> None:
        if self._expiry is None:
            self._expiry = asyncio.create_task(self._expire_forever(), name="ladle-expiry")

    async def _expire_forever(self) -> None:
        """Unload idle runners at their time; wakes early on any change."""
        while True:
            await self.expire_idle()
            changed = self._changed
            idle = [runner.expires for runner in self._runners if runner.refs == 0]
            delay = min(idle, default=math.inf) - self._clock()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(None if math.isinf(delay) else max(delay, 0)):
                    await changed.wait()

    # -- helpers -----------------------------------------------------------

    def _runners_named(self, name: ModelName) -> list[LoadedRunner]:
        return [runner for runner in self._runners if runner.model.name.key() == name.key()]

    def _notify(self) -> None:
        """Wake everything waiting for a change (a load, an unload, a finished request)."""
        self._changed.set()
        self._changed = asyncio.Event()

    def _check_open(self) -> None:
        if self._closed:
            raise SchedulerError("the server is shutting down")
