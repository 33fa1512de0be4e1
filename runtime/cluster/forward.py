"""The ingress's runners: each is a route into the model pool, not a process.

The ingress runs ladle's own app, whose :class:`~runtime.scheduler.Scheduler` asks a
runner factory for a :class:`~runtime.protocol.RunnerHandle` per model. Here the
factory (:class:`PoolRunnerFactory`) has the pool load the model on one replica, and
the handle (:class:`PoolRunner`) sends every generate, embed and tokenize to the pool
through a Ray Serve handle, multiplexed by the model's id, so that it runs on a replica
that holds the model when one can take it.

Unloading (``keep_alive`` expired or 0, ``ladle stop``): closing a route posts an unload
order to the replicas' directory (:mod:`runtime.cluster.directory`), so every replica
that holds the model stops its runner (the scheduler closes a route only when none of
its requests is in flight).

Failover: a call that fails because its replica died (Ray's actor errors) is sent again,
to another replica, as long as nothing of its answer reached the client; a stream that
had started ends with a :class:`~ladle.errors.RunnerError`, which the API writes as the
stream's last, error, event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from ray.exceptions import ActorUnavailableError, RayActorError
from ray.serve.exceptions import DeploymentUnavailableError, ReplicaUnavailableError
from ray.serve.handle import DeploymentHandle, DeploymentResponseGenerator

from builder.gguf.file import GGUFInfo
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.errors import LadleError, RunnerError
from runtime.cluster.wire import BLOB_PREFIX, PoolLoad, WireError
from runtime.protocol import EmbedResult, GenerateChunk, GenerateRequest, LoadSpec, RunnerInfo

T = TypeVar("T")

REPLICA_GONE = (RayActorError, ActorUnavailableError, ReplicaUnavailableError)
"""Ray's errors for a call whose replica died or could not be reached: safe to resend
while no answer reached the client."""
PoolHandle = DeploymentHandle[Any]
"""The model pool's Serve handle (:class:`runtime.cluster.pool.ModelPool`)."""
RETRY_DELAY_S = 0.5
"""Between resends: Ray Serve needs a moment to stop routing to a dead replica."""


class PoolRunner:
    """A :class:`~runtime.protocol.RunnerHandle` whose runner is in the model pool."""

    def __init__(
        self, pool: PoolHandle, load: PoolLoad, info: RunnerInfo, retries: int, directory: Any
    ) -> None:
        self._pool = pool.options(multiplexed_model_id=load.model_id)
        self._load, self._info, self._retries = load, info, retries
        self._directory = directory
        self._closed = False

    @property
    def info(self) -> RunnerInfo:
        return self._info

    @property
    def alive(self) -> bool:
        return not self._closed

    async def generate(self, request: GenerateRequest) -> AsyncIterator[GenerateChunk]:
        """Stream from the pool; resent on another replica until the first chunk."""
        route = self._pool.options(stream=True)
        for attempt in range(self._retries + 1):
            stream: DeploymentResponseGenerator[list[GenerateChunk] | WireError]
            stream = route.generate.remote(self._load, request)  # type: ignore[assignment]
            started = False
            try:
                async for item in stream:  # chunks gathered by the replica (pool.gathered)
                    if isinstance(item, WireError):
                        raise item.rebuild()
                    started = True
                    for chunk in item:
                        yield chunk
                return
            except REPLICA_GONE as error:
                if started or attempt == self._retries:
                    raise self._gone(error, started) from None
            except DeploymentUnavailableError as error:
                reason = f"the model pool is unavailable: {first_line(error)}"
                raise RunnerError(reason, model=self._load.name) from None
            finally:
                # A no-op when the stream finished; else it stops the stream in the replica.
                stream.cancel()  # type: ignore[no-untyped-call]
            await asyncio.sleep(RETRY_DELAY_S)

    async def embed(self, texts: list[str], truncate: bool = True) -> EmbedResult:
        return await self._call(lambda: self._pool.embed.remote(self._load, texts, truncate))

    async def tokenize(self, text: str, special: bool = True) -> list[int]:
        return await self._call(lambda: self._pool.tokenize.remote(self._load, text, special))

    async def detokenize(self, tokens: list[int]) -> str:
        return await self._call(lambda: self._pool.detokenize.remote(self._load, tokens))

    async def close(self, error: LadleError | None = None) -> None:
        """Stop routing here, and have every replica unload the model (an order they
        act on within :data:`~runtime.cluster.directory.ORDER_POLL_S`)."""
        if not self._closed:
            self._closed = True
            await self._directory.unload.remote(self._load.model_id)

    async def _call(self, send: Callable[[], Awaitable[T | WireError]]) -> T:
        answer = await resend(send, self._retries, self._load.name)
        if isinstance(answer, WireError):
            raise answer.rebuild()
        return answer

    def _gone(self, error: Exception, started: bool) -> RunnerError:
        when = "while streaming its answer" if started else f"{self._retries + 1} times"
        reason = f"the model pool's replica died {when}: {first_line(error)}"
        return RunnerError(reason, model=self._load.name)


async def resend(send: Callable[[], Awaitable[T]], retries: int, model: str) -> T:
    """``send()``'s answer, sent again (to another replica) while a replica dies."""
    for attempt in range(retries + 1):
        try:
            return await send()
        except REPLICA_GONE as error:
            if attempt == retries:
                reason = f"the model pool's replica died: {first_line(error)}"
                raise RunnerError(reason, model=model) from None
        except DeploymentUnavailableError as error:
            reason = f"the model pool is unavailable: {first_line(error)}"
            raise RunnerError(reason, model=model) from None
        await asyncio.sleep(RETRY_DELAY_S)
    raise AssertionError("unreachable")


def first_line(error: Exception) -> str:
    """Ray's first line of an error (the rest is its actor's particulars)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


class PoolRunnerFactory:
    """A :class:`~runtime.scheduler.RunnerFactory` whose runners are in the model pool."""

    def __init__(
        self, pool: PoolHandle, store: Store, slots: int, retries: int, directory: Any
    ) -> None:
        self._pool, self._store, self._slots, self._retries = pool, store, slots, retries
        self._directory = directory

    async def __call__(
        self, load: LoadSpec, /, *, model_name: str, gguf: GGUFInfo | None
    ) -> PoolRunner:
        """Have a replica load ``model_name`` with ``load``; its route once loaded."""
        spec = load.model_copy(update={"num_parallel": self._slots})
        pool_load = await asyncio.to_thread(self._pool_load, spec, model_name)
        info = await resend(
            lambda: self._pool.options(multiplexed_model_id=pool_load.model_id).load.remote(
                pool_load
            ),
            self._retries,
            model_name,
        )
        if isinstance(info, WireError):
            raise info.rebuild()
        return PoolRunner(self._pool, pool_load, info, self._retries, self._directory)

    def _pool_load(self, spec: LoadSpec, model_name: str) -> PoolLoad:
        """The model as the pool loads it, by the digest of the manifest that holds the
        scheduler's weights (a retag since the scheduler resolved it is refused)."""
        name = ModelName.parse(model_name)
        stored = self._store.get(name)
        blobs = {layer.digest for layer in stored.manifest.layers}
        wanted = "sha256:" + spec.model_path.name.removeprefix(BLOB_PREFIX)
        if spec.model_path.name.startswith(BLOB_PREFIX) and wanted not in blobs:
            raise RunnerError(
                f"{model_name} was retagged while it loaded; send it again", model=model_name
            )
        return PoolLoad(name=name.full(), digest=stored.digest, spec=spec)
