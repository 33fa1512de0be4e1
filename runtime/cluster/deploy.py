"""``ladle serve --cluster``: connect to (or start) a Ray cluster and serve ladle on it.

The Serve application (:func:`application`) is the ingress (:mod:`.ingress`) bound to
the model pool (:mod:`.pool`); :func:`deploy` runs it beside the replicas' directory
(:mod:`.directory`), :func:`serve_cluster` does that and waits for SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from typing import Any

import ray
from ray import serve
from ray.serve import Application

from ladle.errors import SchedulerError
from ladle.settings import Settings
from runtime.cluster.directory import DIRECTORY_NAME, DIRECTORY_NAMESPACE, reach
from runtime.cluster.ingress import Ingress
from runtime.cluster.pool import ModelPool
from runtime.cluster.settings import LOCAL_ADDRESS, ClusterSettings

APP_NAME = "ladle"
"""The Serve application's name (``serve status`` shows it)."""
HEAD_NODE = "node:__internal_head__"
"""Ray's resource that only the head node has."""
NAMESPACE = DIRECTORY_NAMESPACE
"""The Ray namespace of ``ladle serve --cluster``'s driver."""
INGRESS_QUEUE = 1_000
"""Requests the ingress replica takes at once (it queues them in ladle's scheduler)."""
METRICS_INTERVAL_S = 1.0
"""How often replicas report their ongoing requests to the autoscaler."""

logger = logging.getLogger(__name__)


def application(
    settings: Settings, cluster: ClusterSettings, ingress_node: str | None = None
) -> Application:
    """The ingress bound to the model pool, sized and scaled by ``cluster``; the ingress
    on the node that has Ray's resource ``ingress_node`` (default: this one's)."""
    slots = settings.num_parallel
    here = ingress_node or f"node:{ray.util.get_node_ip_address()}"  # type: ignore[no-untyped-call]
    pool = serve.deployment(
        name="ladle-pool",
        max_ongoing_requests=slots * cluster.models_per_replica,
        autoscaling_config=autoscaling(cluster, slots),
        graceful_shutdown_timeout_s=cluster.drain_timeout,
        health_check_period_s=cluster.health_period,
        ray_actor_options={"num_cpus": cluster.replica_cpus},
    )(ModelPool)
    ingress = serve.deployment(
        name="ladle-ingress",
        max_ongoing_requests=INGRESS_QUEUE,
        graceful_shutdown_timeout_s=cluster.drain_timeout,
        # On this node: the ingress reads the store at LADLE_MODELS as this command sees it.
        ray_actor_options={"num_cpus": cluster.ingress_cpus, "resources": {here: 0.001}},
    )(Ingress)
    bound: Application = ingress.bind(pool.bind(settings, cluster), settings, cluster)
    return bound


WORKER_NICENESS = 0
"""The niceness of the Ray workers of a cluster ladle starts (``--cluster local``), and so
of the replicas and their model runners. Ray's default (``worker_niceness``, 15) puts
them below its own GCS, raylet and agents; a runner then gives its core to Ray's
housekeeping whenever both want it (on a 2-core machine one stream ran at 0.76x plain
``ladle serve``, and at 1.03x with 0; measured 2026-12-04). A cluster started with
``ray start`` takes it from ``RAY_worker_niceness`` (docs/cluster.md); a replica at a
higher one logs a warning (:func:`runtime.cluster.pool.check_niceness`)."""


def system_config() -> dict[str, Any]:
    """Ray's system settings for a cluster ladle starts: its workers at
    :data:`WORKER_NICENESS` (``ray.init``'s and ``Cluster.add_node``'s
    ``_system_config``)."""
    return {"worker_niceness": WORKER_NICENESS}


def autoscaling(cluster: ClusterSettings, slots: int) -> dict[str, Any]:
    """Ray Serve's autoscaling on ongoing requests, from ``LADLE_CLUSTER_*``."""
    return {
        "min_replicas": cluster.min_replicas,
        "initial_replicas": max(cluster.min_replicas, 1),
        "max_replicas": cluster.max_replicas,
        "target_ongoing_requests": cluster.target(slots),
        "upscale_delay_s": cluster.upscale_delay,
        "downscale_delay_s": cluster.downscale_delay,
        "metrics_interval_s": METRICS_INTERVAL_S,
        "look_back_period_s": max(METRICS_INTERVAL_S * 2, min(cluster.upscale_delay, 30.0)),
    }


def connect(address: str, cluster: ClusterSettings) -> None:
    """Join the cluster at ``address`` (``auto``: the running one), or start one on this
    machine (``local``), its workers at :data:`WORKER_NICENESS`."""
    if address == LOCAL_ADDRESS:
        ray.init(
            num_cpus=cluster.local_cpus,
            namespace=NAMESPACE,
            include_dashboard=False,
            _system_config=system_config(),
        )
        return
    try:
        ray.init(address=address, namespace=NAMESPACE)
    except ConnectionError as error:
        raise SchedulerError(
            f"no Ray cluster at {address!r} ({error}); start one with `ray start --head`, "
            "or serve on this machine alone with --cluster local"
        ) from None


def deploy(settings: Settings, cluster: ClusterSettings) -> None:
    """Run the application on the connected cluster, its HTTP proxy on ``LADLE_HOST``."""
    ray.get(reach(cluster.health_period).held.remote())  # up before the replicas
    http = {"host": settings.host, "port": settings.port}
    serve.start(proxy_location=cluster.proxy, http_options=http)
    serve.run(application(settings, cluster), name=APP_NAME, route_prefix="/")


def undeploy() -> None:
    """Delete the application (its replicas drain and unload) and the directory."""
    serve.delete(APP_NAME)
    with contextlib.suppress(ValueError):  # never made, or gone with its node
        ray.kill(ray.get_actor(DIRECTORY_NAME, namespace=NAMESPACE))


def serve_cluster(address: str, settings: Settings, cluster: ClusterSettings) -> None:
    """Serve until SIGTERM or Ctrl-C, then take the application down."""
    connect(address, cluster)
    try:
        deploy(settings, cluster)
        logger.info("ladle is serving on the cluster at %s", settings.url)
        stop = threading.Event()
        for sign in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sign, lambda *_: stop.set())
        stop.wait()
    finally:
        undeploy()
        if address == LOCAL_ADDRESS:
            serve.shutdown()  # type: ignore[no-untyped-call]
        ray.shutdown()
