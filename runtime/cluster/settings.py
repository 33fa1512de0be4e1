"""The cluster's own settings (``LADLE_CLUSTER_*``), read once by ``ladle serve --cluster``.

The ladle settings (:class:`ladle.settings.Settings`) still apply: ``LADLE_NUM_PARALLEL``
is each runner's slots, ``LADLE_HOST`` where the cluster's HTTP proxy listens.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ladle.errors import SettingsError

PREFIX = "LADLE_CLUSTER_"
DEFAULT_ADDRESS = "auto"
"""``--cluster`` with no address: connect to the running cluster (``ray.init("auto")``)."""
LOCAL_ADDRESS = "local"
"""``--cluster local``: start a one-machine cluster inside ``ladle serve``."""


class ClusterSettings(BaseModel):
    """How the model pool is sized and scaled; every field is ``LADLE_CLUSTER_<FIELD>``."""

    model_config = ConfigDict(frozen=True)

    min_replicas: int = Field(1, ge=0)
    """Model-pool replicas kept however idle."""
    max_replicas: int = Field(4, ge=1)
    """Model-pool replicas at most (each may hold ``models_per_replica`` runners)."""
    target_ongoing: float = Field(0.0, ge=0)
    """Requests in flight per replica the autoscaler aims at (0: the runner's slots)."""
    models_per_replica: int = Field(2, ge=1)
    """Models one replica holds; a further one evicts the least recently used."""
    upscale_delay: float = Field(5.0, ge=0)
    """Seconds of demand above target before replicas are added."""
    downscale_delay: float = Field(60.0, ge=0)
    """Seconds of demand below target before replicas are removed."""
    drain_timeout: float = Field(60.0, ge=0)
    """Seconds a replica being removed lets its streams finish."""
    replica_cpus: float = Field(1.0, gt=0)
    """Ray CPUs one model-pool replica reserves, and its runners' threads (at least 1)."""
    ingress_cpus: float = Field(0.5, gt=0)
    """Ray CPUs the ingress reserves."""
    local_cpus: int = Field(2, ge=1)
    """CPUs a ``--cluster local`` cluster offers."""
    stream_interval: float = Field(0.02, ge=0)
    """Seconds a replica gathers a stream's chunks before it sends them on to the ingress
    together (the first chunk goes at once; 0: each chunk alone). Each item
    crossing Ray costs milliseconds of CPU in both processes, which a machine's cores
    would otherwise spend generating (Ray Serve LLM's ``stream_batching_interval_ms``)."""
    health_period: float = Field(10.0, gt=0)
    """Seconds between health checks of a replica (a dead runner fails one)."""
    proxy: Literal["HeadOnly", "EveryNode"] = "HeadOnly"
    """Where Ray Serve's HTTP proxy listens on ``LADLE_HOST``: the head node, or every
    node (behind a load balancer of your own)."""

    @model_validator(mode="after")
    def _ordered(self) -> ClusterSettings:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) > max_replicas")
        return self

    def target(self, slots: int) -> float:
        """The autoscaling target for runners of ``slots`` parallel sequences."""
        return self.target_ongoing or float(slots)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ClusterSettings:
        """The settings ``LADLE_CLUSTER_*`` give; ``SettingsError`` names a bad one."""
        env = os.environ if environ is None else environ
        given = {
            name: env[PREFIX + name.upper()]
            for name in cls.model_fields
            if env.get(PREFIX + name.upper(), "").strip()
        }
        try:
            return cls.model_validate(given)
        except ValidationError as error:
            first = error.errors()[0]
            where = first["loc"][0] if first["loc"] else "min_replicas"
            variable = PREFIX + str(where).upper()
            raise SettingsError(variable, str(given.get(str(where), "")), first["msg"]) from None
