"""What ``ladle serve --cluster [ADDRESS]`` runs: settings read once, Ray checked for,
then :func:`runtime.cluster.deploy.serve_cluster`. Nothing here imports Ray until the
command runs, so that ``ladle --help`` and ``ladle serve`` never pay for it."""

from __future__ import annotations

import importlib.util
import logging

from ladle.errors import SchedulerError
from ladle.settings import Settings
from runtime.cluster.settings import ClusterSettings

EXTRA = "ladle[cluster]"
"""The extra that installs Ray Serve."""


def serve_on_cluster(address: str) -> None:
    """Serve ladle's API on the Ray cluster at ``address`` until SIGTERM or Ctrl-C."""
    settings = Settings.from_environment()
    cluster = ClusterSettings.from_environment()
    require_ray()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:  %(name)s: %(message)s")
    from runtime.cluster.deploy import serve_cluster

    serve_cluster(address, settings, cluster)


def require_ray() -> None:
    """SchedulerError naming the extra when Ray Serve is not installed."""
    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("ray.serve") is None:
        raise SchedulerError(f"ladle serve --cluster needs Ray Serve: pip install '{EXTRA}'")
