"""The runners of one server, from load to unload: the half of the scheduler that does
not deal with requests (:mod:`runtime.scheduler` admits them).

- One load at a time (:meth:`RunnerPool.start_load`); unloads finish (memory is freed)
  before the next load starts. The requests waiting for a load share its outcome
  (:class:`runtime.loaded.PendingLoad`).
- A runner whose last request finished stays for its ``keep_alive``
  (:meth:`RunnerPool.release`), and a task unloads it at that time
  (:meth:`RunnerPool.expire_idle`); a retired one (draining, deleted, other options,
  dead) is unloaded as soon as it is idle, and a forced one at once.
- Every change (a load, an unload, a finished request) wakes whoever waits for one
  (:meth:`RunnerPool.changed`): requests waiting for room, and the expiry task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

from builder.gguf.file import GGUFInfo
from builder.store.names import ModelName
from ladle.errors import SchedulerError
from ladle.settings import Settings
from runtime.eviction import PlanningFactory, Sizing, footprint, to_drain, to_unload
from runtime.loaded import LoadedRunner, ModelRequest, PendingLoad, PsEntry
from runtime.memory import Footprint
from runtime.protocol import LoadSpec, RunnerHandle

Clock = Callable[[], float]
SHUTTING_DOWN = "the server is shutting down"
"""Why requests fail once the server stops: queued ones, and those still running after
the shutdown grace period."""

logger = logging.getLogger(__name__)


class RunnerFactory(Protocol):
    """Starts a runner for a spec and waits until it is loaded: ``runtime.runner``'s
    ``start_runner`` (wrapped by the memory planner), or a fake in tests. ``model_name``
    is how its errors name the model; ``gguf`` is the header of ``load.model_path``,
    already inspected (``None`` when the image has no weights)."""

    def __call__(
        self, load: LoadSpec, /, *, model_name: str, gguf: GGUFInfo | None
    ) -> Awaitable[RunnerHandle]: ...


class RunnerPool:
    """Loads, keeps and unloads the runners of one server."""

    def __init__(self, settings: Settings, start_runner: RunnerFactory, clock: Clock) -> None:
        self.runners: list[LoadedRunner] = []
        self.pending: PendingLoad | None = None
        """The load in progress, if any."""
        self.planner = start_runner if isinstance(start_runner, PlanningFactory) else None
        """The factory, when it prices loads by memory (else runners count only)."""
        self.closed = False
        self._settings, self._start_runner, self._clock = settings, start_runner, clock
        self._load_task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._expiry: asyncio.Task[None] | None = None

    def named(self, name: ModelName) -> list[LoadedRunner]:
        """The runners of the model ``name``, retired ones included."""
        return [runner for runner in self.runners if runner.model.name.key() == name.key()]

    def ps(self) -> list[PsEntry]:
        """The loaded models, the one that will stay longest first (as ``ollama ps``)."""
        now, wall = self._clock(), datetime.now(UTC)
        entries = [r.ps_entry(now, wall) for r in self.runners if r.model.handle.alive]
        return sorted(entries, key=lambda entry: entry.expires_at, reverse=True)

    async def changed(self) -> None:
        """Return at the next change (a load, an unload, a finished request)."""
        await self._changed.wait()

    def notify(self) -> None:
        """Wake everything waiting for a change."""
        self._changed.set()
        self._changed = asyncio.Event()

    # -- requests ending -----------------------------------------------------

    def release(self, runner: LoadedRunner) -> None:
        """One request on ``runner`` finished (or gave up waiting for a slot)."""
        runner.refs -= 1
        if runner.refs == 0:
            self._idle(runner)
        self.notify()

    def _idle(self, runner: LoadedRunner) -> None:
        """``runner``'s last request finished: its keep-alive time starts now."""
        dead = not runner.model.handle.alive
        if runner.retired or dead or runner.keep_alive == 0 or self.closed:
            self.retire(runner)
        else:
            runner.expires = self._clock() + runner.keep_alive

    # -- loading -------------------------------------------------------------

    def make_room(self, sizing: Sizing | None) -> bool:
        """Whether a load may start now, after unloading idle runners if needed."""
        idle = to_unload(self.runners, self._settings.max_loaded_models, sizing)
        if idle is not None:
            for runner in idle:
                self.retire(runner)
            return True
        if (draining := to_drain(self.runners)) is not None:
            draining.retired = True  # no new requests; unloaded when idle
        return False

    def start_load(self, request: ModelRequest, sizing: Sizing | None) -> None:
        """Load ``request``'s model in a task; :attr:`pending` until it is done."""
        pending = PendingLoad(request)
        self.pending = pending
        self._load_task = asyncio.create_task(
            self._load(pending, sizing), name=f"ladle-load-{request.name.display()}"
        )

    async def _load(self, pending: PendingLoad, sizing: Sizing | None) -> None:
        request = pending.request
        try:
            await self.closes_done()  # the memory of unloaded runners is free again
            started = time.perf_counter()
            handle = await self._start(request, footprint(self.runners))
        except asyncio.CancelledError:  # close() stops the load
            self._load_failed(pending, SchedulerError(SHUTTING_DOWN))
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
        self.runners.append(runner)
        self.pending = None
        pending.deliver(runner)
        if runner.refs == 0:  # every request that wanted it went away
            self._idle(runner)
        self.notify()

    async def _start(self, request: ModelRequest, beside: Footprint) -> RunnerHandle:
        """Start ``request``'s runner beside loaded runners taking ``beside``."""
        name, gguf = request.name.display(), request.model.gguf
        if self.planner is None:
            return await self._start_runner(request.spec, model_name=name, gguf=gguf)
        return await self.planner(request.spec, model_name=name, gguf=gguf, beside=beside)

    def _load_failed(self, pending: PendingLoad, error: Exception) -> None:
        self.pending = None
        if not pending.fail(error):
            logger.warning("loading %s failed: %s", pending.request.name.display(), error)
        self.notify()

    # -- unloading -----------------------------------------------------------

    def retire(self, runner: LoadedRunner, *, force: bool = False) -> asyncio.Task[None] | None:
        """Take no new requests on ``runner``; unload it now if idle (or ``force``: its
        requests in flight then fail, told that the server is shutting down).

        Returns the unloading task, if this call started one.
        """
        runner.retired = True
        if (runner.refs and not force) or runner not in self.runners:
            return None
        self.runners.remove(runner)
        error = SchedulerError(SHUTTING_DOWN) if runner.refs else None
        name = f"ladle-unload-{runner.model.name.display()}"
        task = asyncio.create_task(self._close_runner(runner, error), name=name)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        self.notify()
        return task

    async def _close_runner(self, runner: LoadedRunner, error: SchedulerError | None) -> None:
        handle = runner.model.handle
        try:
            await (handle.close() if error is None else handle.close(error))
            logger.info("unloaded %s", runner.model.name.display())
        except Exception:
            logger.exception("unloading %s failed", runner.model.name.display())
        finally:
            self.notify()

    async def closes_done(self) -> None:
        """Return once every unload started so far has finished."""
        while self._closing:
            await asyncio.wait(set(self._closing))

    async def close(self) -> None:
        """Cancel the load in progress and unload every runner, busy or not."""
        self.closed = True
        for task in (self._expiry, self._load_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for runner in list(self.runners):
            self.retire(runner, force=True)
        self.notify()
        await self.closes_done()

    # -- expiry --------------------------------------------------------------

    async def expire_idle(self) -> None:
        """Unload every idle runner whose time is up (or whose process died)."""
        now = self._clock()
        for runner in list(self.runners):
            if runner.refs == 0 and (runner.expires <= now or not runner.model.handle.alive):
                self.retire(runner)
        await self.closes_done()

    def start_expiry(self) -> None:
        """Start the task that unloads idle runners at their time (once)."""
        if self._expiry is None:
            self._expiry = asyncio.create_task(self._expire_forever(), name="ladle-expiry")

    async def _expire_forever(self) -> None:
        """Unload idle runners at their time; wakes early on any change."""
        while True:
            await self.expire_idle()
            changed = self._changed
            idle = [runner.expires for runner in self.runners if runner.refs == 0]
            delay = min(idle, default=math.inf) - self._clock()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(None if math.isinf(delay) else max(delay, 0)):
                    await changed.wait()
