"""Which models each model-pool replica holds, for ``/api/ps`` against a cluster.

Each replica reports its models (after a load, an unload, and at every health check) to
one :class:`PoolDirectory` actor; the ingress reads it. A replica that stops reporting
(killed, its node gone) drops out after :data:`STALE_PERIODS` health periods, so ``ps``
shows no model that no live replica holds.

The directory also carries the ingress's unload orders (``keep_alive`` expired or 0,
``ladle stop``) to every replica: the ingress posts one, each replica asks for new ones
every :data:`ORDER_POLL_S` seconds and unloads that model's runner if no request is
using it.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict

DIRECTORY_NAME = "ladle-pool-directory"
"""The directory actor's name."""
DIRECTORY_NAMESPACE = "ladle"
"""Its Ray namespace (the driver's; the replicas run in Serve's own)."""
STALE_PERIODS = 3
"""Health periods without a report after which a replica is taken for gone."""
ORDER_POLL_S = 0.5
"""How often a replica asks the directory for unload orders."""
ORDERS_KEPT = 256
"""Unload orders the directory remembers (a replica that missed more reloads nothing it
should not have: an order only ever unloads)."""


class HeldModel(BaseModel):
    """One model loaded on one replica."""

    model_config = ConfigDict(frozen=True)

    name: str
    digest: str
    model_id: str
    size: int
    size_vram: int
    context_length: int
    replica: str
    node: str
    requests: int
    """Requests this replica has served on it."""


class PoolDirectory:
    """The replicas' reports (a Ray actor: one for the application)."""

    def __init__(self, health_period: float) -> None:
        self._reports: dict[str, tuple[float, list[HeldModel]]] = {}
        self._stale_after = health_period * STALE_PERIODS
        self._orders: list[tuple[int, str]] = []  # (number, model id), oldest first
        self._last_order = 0

    def report(self, replica: str, models: list[HeldModel]) -> None:
        """``replica`` holds ``models`` now."""
        self._reports[replica] = (time.monotonic(), models)

    def forget(self, replica: str) -> None:
        """``replica`` stopped (scaled down or shut down)."""
        self._reports.pop(replica, None)

    def unload(self, model_id: str) -> int:
        """Order every replica to unload ``model_id``; the order's number."""
        self._last_order += 1
        self._orders = [*self._orders[-(ORDERS_KEPT - 1) :], (self._last_order, model_id)]
        return self._last_order

    def orders(self, after: int) -> tuple[int, list[str]]:
        """The latest order's number, and the model ids ordered unloaded since ``after``
        (``-1``: none, for a replica that just started and only wants the number)."""
        if after < 0:
            return self._last_order, []
        return self._last_order, [model for number, model in self._orders if number > after]

    def held(self) -> list[HeldModel]:
        """Every model of every replica heard from lately, by replica."""
        live = self._live()
        return [model for replica in sorted(live) for model in live[replica]]

    def replicas(self) -> list[str]:
        """The replicas heard from lately (each reports when it starts and at every
        health check, holding models or not)."""
        return sorted(self._live())

    def _live(self) -> dict[str, list[HeldModel]]:
        now = time.monotonic()
        return {
            replica: models
            for replica, (when, models) in self._reports.items()
            if now - when <= self._stale_after
        }


def reach(health_period: float) -> Any:
    """The application's directory actor, made by whoever needs it first (the command,
    a replica, or the ingress under KubeRay, where no command runs)."""
    import ray

    made = ray.remote(PoolDirectory).options(
        name=DIRECTORY_NAME,
        namespace=DIRECTORY_NAMESPACE,
        num_cpus=0,
        get_if_exists=True,
        lifetime="detached",  # as the Serve application is; undeploy() ends both
    )
    return made.remote(health_period)
