"""The ingress deployment: ladle's own ASGI app, with runners that are routes into the
model pool (:mod:`runtime.cluster.forward`), and ``/api/ps`` answered per replica.

The app is :func:`runtime.api.app.create_app`'s, built on the replica
(``__serve_build_asgi_app__``), so requests are checked, rendered and answered by the
same code as under ``ladle serve``: the same routes, settings, security and
``/metrics``. Its scheduler still admits and queues requests; a model's slots there
are the runner's slots times the most replicas, since every replica may run it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, FastAPI
from ray import serve
from starlette.concurrency import run_in_threadpool

from builder.store.names import ModelName
from builder.store.store import Store
from ladle.settings import Settings
from runtime.api import catalog
from runtime.api.app import create_app
from runtime.api.ollama import Served
from runtime.api.service import Service
from runtime.cluster.directory import HeldModel, reach
from runtime.cluster.forward import PoolHandle, PoolRunnerFactory
from runtime.cluster.settings import ClusterSettings
from runtime.loaded import PsEntry
from runtime.memory import processor

RETRIES = 3
"""Times a request not yet answered is sent again when its replica dies."""


@serve.ingress()
class Ingress:
    """The cluster's HTTP entry (deployed by :func:`runtime.cluster.deploy.application`)."""

    def __init__(self, pool: PoolHandle, settings: Settings, cluster: ClusterSettings) -> None:
        self._pool, self._settings, self._cluster = pool, settings, cluster

    def __serve_build_asgi_app__(self) -> FastAPI:
        settings = ingress_settings(self._settings, self._cluster)
        directory = reach(self._cluster.health_period)
        factory = PoolRunnerFactory(
            self._pool, Store(settings.models), self._settings.num_parallel, RETRIES, directory
        )
        return create_app(settings, factory, routers=(ps_router(settings, directory),))


def ingress_settings(settings: Settings, cluster: ClusterSettings) -> Settings:
    """The app's settings on the ingress: a model may have as many requests in flight as
    the whole pool at its largest takes (every replica may hold it), and as many models
    be routed at once as the pool holds."""
    return settings.model_copy(
        update={
            "num_parallel": pool_capacity(settings, cluster),
            "max_loaded_models": cluster.models_per_replica * cluster.max_replicas,
        }
    )


def pool_capacity(settings: Settings, cluster: ClusterSettings) -> int:
    """Requests the pool takes at once at its largest (each replica's
    ``max_ongoing_requests`` times the most replicas)."""
    return settings.num_parallel * cluster.models_per_replica * cluster.max_replicas


def ps_router(settings: Settings, directory: Any) -> APIRouter:
    """``GET /api/ps`` against a cluster: every replica's models, with its replica and node."""
    router = APIRouter()

    @router.get("/api/ps", response_model=None, include_in_schema=False)
    async def cluster_ps(served: Service = Served) -> dict[str, Any]:
        held: list[HeldModel] = await directory.held.remote()
        routed = {entry.digest: entry.expires_at for entry in served.scheduler.ps()}
        kept = datetime.now(UTC) + timedelta(seconds=min(settings.keep_alive, 10**9))
        entries = [_entry(model, routed.get(model.digest, kept)) for model in held]
        answer = await run_in_threadpool(catalog.ps, served.store, entries)
        for shown, model in zip(answer["models"], held, strict=True):
            shown.update(replica=model.replica, node=model.node, requests=model.requests)
        return answer

    return router


def _entry(model: HeldModel, expires_at: datetime) -> PsEntry:
    name = ModelName.parse(model.name).display()
    return PsEntry(
        name=name,
        model=name,
        digest=model.digest,
        size=model.size,
        size_vram=model.size_vram,
        processor=processor(model.size, model.size_vram),
        context_length=model.context_length,
        expires_at=expires_at,
    )
