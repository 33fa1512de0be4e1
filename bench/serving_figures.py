"""Figures of the ``serving`` section (``bench/serving.py``'s results), as the targets
table and the report read them.

In that section a system that did not run a workload is absent from the workload's
dict, and ``systems`` says why when the whole peer was skipped (llama.cpp's
``llama-server`` could not be built, say). :func:`system_stat` turns that into a
:class:`~bench.figures.MissingFigureError` carrying the peer's own reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.figures import MissingFigureError, Stat, dig, number

LADLE = "ladle_api"
"""The system the serving targets judge: ``ladle serve`` through its HTTP API."""

CEILING = "llama_batched_bench"
"""The results key of llama.cpp's llama-batched-bench (:mod:`bench.batched_bench`)."""

MIB = 1 << 20


def _systems(results: Mapping[str, Any]) -> Mapping[str, Any]:
    try:
        found = dig(results, "serving", "systems")
    except MissingFigureError:
        return {}
    return found if isinstance(found, Mapping) else {}


def systems(results: Mapping[str, Any]) -> list[str]:
    """The serving systems in the order the results list them (none when absent)."""
    return [str(key) for key in _systems(results)]


def label(results: Mapping[str, Any], system: str) -> str:
    """A system's label (``llama_cpp.server``), or its key when it has none."""
    node = _systems(results).get(system)
    return str(node.get("label", system)) if isinstance(node, Mapping) else system


def skipped(results: Mapping[str, Any], system: str) -> str | None:
    """Why ``system`` did not run at all, or ``None`` when it ran."""
    node = _systems(results).get(system)
    if isinstance(node, Mapping):
        reason = node.get("skipped", node.get("error"))
        return None if reason is None else str(reason)
    return None


def workload(results: Mapping[str, Any], name: str, system: str) -> Any:
    """``serving.<name>.<system>``; when absent, the peer's skip reason if it has one."""
    try:
        return dig(results, "serving", name, system)
    except MissingFigureError:
        dig(results, "serving", "systems", system)  # raises the peer's own reason
        raise


def system_stat(results: Mapping[str, Any], system: str, name: str, *rest: str) -> Stat:
    """The statistic at ``serving.<name>.<system>.<rest…>``."""
    workload(results, name, system)
    return Stat.read(results, "serving", name, system, *rest)


def rss_beyond_model_mb(results: Mapping[str, Any], system: str, phase: str) -> float:
    """A server's RSS in ``phase`` (``idle`` or ``load``) beyond its weights and KV
    cache, in MB (10⁶ bytes, the unit issue 9's target uses)."""
    workload(results, "memory_mib", system)
    rss, weights, kv_cache = (
        number(results, "serving", "memory_mib", system, key)
        for key in (phase, "weights", "kv_cache")
    )
    return (rss - weights - kv_cache) * MIB / 1e6


def decode_bound(results: Mapping[str, Any]) -> float:
    """Tokens/s one stream cannot exceed on this machine: memory bandwidth over the
    bytes of weights each decoded token reads."""
    bandwidth = number(results, "machine", "memcpy_bandwidth", "best")
    per_token = number(results, "serving", "model", "weights_bytes_per_token")
    if per_token <= 0:
        raise MissingFigureError("serving.model.weights_bytes_per_token is not positive")
    return bandwidth / per_token
