"""The model pool: a Ray Serve deployment whose replicas each run up to N runners.

Requests carry a multiplexed model id (:attr:`runtime.cluster.wire.PoolLoad.model_id`),
so Ray Serve routes them to a replica that holds that model when one can take them; a
replica asked for a model it lacks loads it (:mod:`runtime.cluster.images`, then ladle's
runner with the memory planner, :class:`runtime.placement.PlannedRunnerFactory`), after
unloading its least recently used model when it holds ``models_per_replica``. Each
runner does its own continuous batching, as under ``ladle serve``.

A runner is a child of the replica and reads its commands on a pipe: when the replica
dies, even by SIGKILL, the pipe closes and the runner exits (see
:mod:`runtime.runner.process`). A replica whose runner died fails its health check, so
that Ray Serve replaces it. An unload order from the ingress (``keep_alive``, ``ladle
stop``; :mod:`runtime.cluster.directory`) stops a model's runner unless a request is
using it (the ingress orders it when none of its own is in flight, so one running here
came since and wants the model); the model stays in Serve's multiplexing cache, so its
next request starts the runner again here. On scale-down Ray Serve lets the replica's
requests finish (``graceful_shutdown_timeout_s``) before :meth:`ModelPool.__del__`
unloads the runners.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import ray
from ray import serve

from ladle.errors import LadleError
from ladle.settings import Settings
from runtime.cluster.directory import ORDER_POLL_S, HeldModel, reach
from runtime.cluster.images import node_spec
from runtime.cluster.settings import ClusterSettings
from runtime.cluster.wire import PoolLoad, WireError
from runtime.placement import PlannedRunnerFactory
from runtime.protocol import (
    EmbedResult,
    GenerateChunk,
    GenerateRequest,
    LoadSpec,
    RunnerHandle,
    RunnerInfo,
)

T = TypeVar("T")
logger = logging.getLogger(__name__)


class PoolModel:
    """One loaded model on a replica: its runner and the requests using it."""

    def __init__(
        self,
        load: PoolLoad,
        handle: RunnerHandle,
        drain_timeout: float,
        unloaded: Callable[[PoolModel], None],
    ) -> None:
        self.load, self.handle, self.requests = load, handle, 0
        self.released = False
        """The runner was stopped by an unload order; :meth:`ready` starts another."""
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._lock = asyncio.Lock()  # a release and a restart one at a time
        self._drain_timeout = drain_timeout
        self._unloaded = unloaded
        # Ray Serve awaits an async ``__del__`` when it evicts a model; set on the
        # instance, so that the garbage collector never calls it unawaited.
        self.__del__ = self.unload

    @property
    def dead(self) -> bool:
        """Its runner died (not stopped by an order)."""
        return not self.released and not self.handle.alive

    async def ready(self, start: Callable[[PoolLoad], Awaitable[RunnerHandle]]) -> None:
        """Start the runner again (``start``) if an unload order stopped it."""
        async with self._lock:
            if self.released:
                self.handle = await start(self.load)
                self.released = False

    def begin(self) -> None:
        self.requests += 1
        self._running += 1
        self._idle.clear()

    def end(self) -> None:
        self._running -= 1
        if self._running == 0:
            self._idle.set()

    async def release(self) -> None:
        """An unload order: stop the runner, unless a request is using it (one that came
        since the ingress closed its route wants the model: the order lapses). The model
        stays in Serve's cache; marked released first, so that a request arriving while
        the runner stops waits in :meth:`ready` and starts another."""
        async with self._lock:
            if self.released or self._running:
                return
            self.released = True
            await self.handle.close()

    async def unload(self) -> None:
        """Evicted or the replica stops: let the requests running on it finish (up to the
        drain timeout), then stop the runner (unless an order already did)."""
        async with self._lock:
            if not self.released:
                try:
                    await asyncio.wait_for(self._idle.wait(), self._drain_timeout)
                except TimeoutError:
                    logger.warning("%s: unloading with requests still running", self.load.name)
                await self.handle.close()
        self._unloaded(self)


class ModelPool:
    """A model-pool replica (deployed by :func:`runtime.cluster.deploy.application`)."""

    def __init__(self, settings: Settings, cluster: ClusterSettings) -> None:
        self._models: dict[str, PoolModel] = {}
        self._settings = node_settings(settings)
        self._cluster = cluster
        self._factory = PlannedRunnerFactory()
        self._wanted: dict[str, PoolLoad] = {}
        self.node = ray.get_runtime_context().get_node_id()
        self.replica = serve.get_replica_context().replica_id.unique_id
        self._directory = reach(cluster.health_period)
        self._orders_seen = -1  # the last unload order acted on (-1: not asked yet)
        self._watching: asyncio.Task[None] | None = None
        multiplexed = serve.multiplexed(max_num_models_per_replica=cluster.models_per_replica)

        async def open_model(model_id: str) -> PoolModel:  # a function: Serve sets attributes
            return await self._open(model_id)

        self._model: Callable[[str], Awaitable[PoolModel]] = multiplexed(open_model)
        check_niceness()
        self._report()  # here: the directory knows of this replica before its first check

    # -- requests --------------------------------------------------------------

    async def load(self, load: PoolLoad) -> RunnerInfo | WireError:
        """Load ``load``'s model here if it is not; what its runner reports."""
        return await self._answer(load, lambda model: _ready(model.handle.info))

    async def generate(
        self, load: PoolLoad, request: GenerateRequest
    ) -> AsyncIterator[list[GenerateChunk] | WireError]:
        """Stream a completion in batches of chunks (:func:`gathered`); a failure is the
        last item, as a :class:`WireError`."""
        try:
            model = await self._use(load)
        except LadleError as error:
            yield WireError.of(error)
            return
        try:
            stream = model.handle.generate(request)
            async for chunks in gathered(stream, self._cluster.stream_interval):
                yield chunks
        except LadleError as error:
            yield WireError.of(error)
        finally:
            model.end()

    async def embed(
        self, load: PoolLoad, texts: list[str], truncate: bool
    ) -> EmbedResult | WireError:
        return await self._answer(load, lambda model: model.handle.embed(texts, truncate))

    async def tokenize(self, load: PoolLoad, text: str, special: bool) -> list[int] | WireError:
        return await self._answer(load, lambda model: model.handle.tokenize(text, special))

    async def detokenize(self, load: PoolLoad, tokens: list[int]) -> str | WireError:
        return await self._answer(load, lambda model: model.handle.detokenize(tokens))

    async def identity(self) -> tuple[str, str, int]:
        """This replica's id, its node's id, and its process id (tests kill it)."""
        return self.replica, self.node, os.getpid()

    # -- Ray Serve's hooks -----------------------------------------------------------

    async def check_health(self) -> None:
        """Fails when one of this replica's runners died, so that it is replaced."""
        dead = [model.load.name for model in self._models.values() if model.dead]
        if dead:
            raise RuntimeError(f"runner of {', '.join(dead)} died on replica {self.replica}")
        self._watch()
        self._report()

    async def __del__(self) -> None:
        """Scale-down or shutdown, after Ray Serve let the requests finish: unload."""
        if self._watching is not None:
            self._watching.cancel()
        await asyncio.gather(*(model.unload() for model in list(self._models.values())))
        if hasattr(self, "_directory"):  # not when __init__ failed
            self._directory.forget.remote(self.replica)

    # -- models ------------------------------------------------------------------

    async def _answer(
        self, load: PoolLoad, work: Callable[[PoolModel], Awaitable[T]]
    ) -> T | WireError:
        try:
            model = await self._use(load)
        except LadleError as error:
            return WireError.of(error)
        try:
            return await work(model)
        except LadleError as error:
            return WireError.of(error)
        finally:
            model.end()

    async def _use(self, load: PoolLoad) -> PoolModel:
        """``load``'s model, loaded here if need be, counted as in use."""
        self._watch()
        self._wanted[load.model_id] = load
        model = await self._model(load.model_id)
        if model.released:
            await model.ready(self._start)
            self._report()
        model.begin()
        return model

    async def _open(self, model_id: str) -> PoolModel:
        """Load a model (Ray Serve's multiplexed loader; it evicts the LRU one first)."""
        load = self._wanted[model_id]
        handle = await self._start(load)
        model = PoolModel(load, handle, self._cluster.drain_timeout, self._forget)
        self._models[model_id] = model
        self._report()
        return model

    async def _start(self, load: PoolLoad) -> RunnerHandle:
        """A runner of ``load``'s model on this node."""
        spec = await asyncio.to_thread(node_spec, load, self._settings, self.node)
        spec = threaded(spec, self._cluster.replica_cpus)
        return await self._factory(spec, model_name=load.name, gguf=None)

    # -- unload orders -------------------------------------------------------------

    def _watch(self) -> None:
        """Follow the ingress's unload orders (from the replica's first request or
        health check on, in Serve's event loop for user code)."""
        if self._watching is None or self._watching.done():
            self._watching = asyncio.get_running_loop().create_task(self._follow_orders())

    async def _follow_orders(self) -> None:
        while True:
            try:
                self._orders_seen, ids = await self._directory.orders.remote(self._orders_seen)
            except Exception as error:  # the directory restarting: ask again later
                logger.warning("unload orders unreadable: %s", error)
                ids = []
            ordered = [self._models[model_id] for model_id in ids if model_id in self._models]
            if ordered:
                await asyncio.gather(*(model.release() for model in ordered))
                self._report()
            await asyncio.sleep(ORDER_POLL_S)

    def _forget(self, model: PoolModel) -> None:
        """``model`` was unloaded (evicted, or the replica stops)."""
        if self._models.get(model.load.model_id) is model:
            del self._models[model.load.model_id]
            self._wanted.pop(model.load.model_id, None)
        self._report()

    def _report(self) -> None:
        models = self._models.values()
        held = [self._held(model) for model in models if not model.released and model.handle.alive]
        self._directory.report.remote(self.replica, held)

    def _held(self, model: PoolModel) -> HeldModel:
        info = model.handle.info
        return HeldModel(
            name=model.load.name,
            digest=model.load.digest,
            model_id=model.load.model_id,
            size=info.size_bytes,
            size_vram=info.vram_bytes,
            context_length=info.load.n_ctx,
            replica=self.replica,
            node=self.node,
            requests=model.requests,
        )


async def _ready(info: RunnerInfo) -> RunnerInfo:
    return info


def check_niceness() -> int:
    """This replica's niceness, which its runners inherit; a warning when it is above 0
    (Ray's default ``worker_niceness``, 15: see :data:`runtime.cluster.deploy.WORKER_NICENESS`)."""
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    if niceness > 0:
        logger.warning(
            "this replica and its model runners run at niceness %d (Ray's worker_niceness): "
            "they give way to Ray's own processes and generate slower under load; start Ray "
            "with RAY_worker_niceness=0 (docs/cluster.md)",
            niceness,
        )
    return niceness


async def gathered(
    stream: AsyncIterator[GenerateChunk], interval: float
) -> AsyncIterator[list[GenerateChunk]]:
    """``stream``'s chunks in lists: the first alone and at once (the time to first token
    is untouched), then each chunk with those that follow it within ``interval`` (a last
    chunk that comes first goes at once). A failure of ``stream`` is raised after the
    chunks before it."""
    queue: asyncio.Queue[GenerateChunk | BaseException | None] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for chunk in stream:
                queue.put_nowait(chunk)
        except Exception as error:  # raised again below, after the chunks before it
            queue.put_nowait(error)
        else:
            queue.put_nowait(None)

    task = asyncio.create_task(pump())
    try:
        first = True
        while True:
            item = await queue.get()
            if isinstance(item, GenerateChunk) and not (first or item.done or interval <= 0):
                await asyncio.sleep(interval)  # let the window's chunks come
            first = False
            items = [item, *(queue.get_nowait() for _ in range(queue.qsize()))]
            chunks = [chunk for chunk in items if isinstance(chunk, GenerateChunk)]
            if chunks:
                yield chunks
            end = items[-1]
            if end is None:
                return
            if isinstance(end, BaseException):
                raise end
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def threaded(spec: LoadSpec, replica_cpus: float) -> LoadSpec:
    """``spec`` with as many threads as the replica's Ray CPUs (at least one), unless a
    request's ``num_thread`` chose: Ray places replicas by their CPUs, so a runner that
    took every core of its node would crowd the other replicas there."""
    if spec.n_threads is not None:
        return spec
    return spec.model_copy(update={"n_threads": max(1, int(replica_cpus))})


def node_settings(settings: Settings) -> Settings:
    """The server's settings, with this node's store when its ``LADLE_MODELS`` is set
    (a node's store is the node's own, unless the directory is shared)."""
    local = os.environ.get("LADLE_MODELS", "").strip()
    if not local:
        return settings
    return settings.model_copy(update={"models": Settings.from_environment().models})
