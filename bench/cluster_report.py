"""The report's section on ``ladle serve --cluster`` (issue 22), from ``results["cluster"]``
(:mod:`bench.cluster`), and the issue's two targets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.figures import Stat, number
from bench.markdown import notes, table
from bench.readings import Reading, Side

Results = Mapping[str, Any]


def section(results: Results) -> list[str]:
    """The section's Markdown lines."""
    found = results.get("cluster")
    if not isinstance(found, Mapping):
        return []
    lines = ["## Serving on a Ray cluster (issue 22)", ""]
    if "plain" not in found:
        why = found.get("error") or found.get("skipped") or "no figures"
        return [*lines, f"Not measured in this run: {why}.", ""]
    plain, one = found["plain"], found["cluster_1_replica"]
    two, eight = found["cluster_2_replicas_2_nodes"], found["plain_8_streams"]
    rows = [
        [f"plain `ladle serve`, one stream, {_threads(plain)}", *_pair(plain)],
        [f"`--cluster local`, 1 replica, one stream, {_threads(one)}", *_pair(one)],
    ]
    for key, label in (
        ("plain_all_cores", "plain `ladle serve`"),
        ("cluster_1_replica_all_cores", "`--cluster local`, 1 replica"),
    ):
        if key in found:
            rows.append([f"{label}, one stream, {_threads(found[key])}", *_pair(found[key])])
    rows += [
        [f"plain `ladle serve`, {eight['streams']} streams", "", _tps(eight, found.get("cores"))],
        [
            f"2 replicas on 2 Ray nodes, {two['streams']} streams",
            "",
            _tps(two, found.get("ray_cpus_two_nodes")),
        ],
    ]
    return [
        *lines,
        f"`bench/cluster.py` on the bundled {found['model']}, {found['tokens']} tokens a "
        "request; one stream: the median of sequential requests. Both Ray nodes run on "
        "this machine and share its cores, so two replicas cannot add speed here: on two "
        "real machines each replica has a machine's cores, and the aggregate is about twice "
        "one machine's. The issue's targets read the one-stream figures with a core left "
        "to the serving processes (`num_thread` one less than the cores, on both servers): "
        "llama.cpp's threads wait for each other at every operation, so with every core "
        "given to them the CPU that Ray's processes take (proxy, ingress and pool replica "
        "on every chunk; controller, GCS and agents every second) stalls the runner on a "
        "2-core machine; the all-cores rows show how much.",
        "",
        *table(["server", "time to first token (ms)", "tokens/s"], rows, "lrr"),
        *notes("cluster"),
    ]


def _threads(figure: Mapping[str, Any]) -> str:
    threads = int(figure.get("threads") or 0)
    return f"{threads} thread{'s' * (threads != 1)}" if threads else "every core"


def _pair(figure: Mapping[str, Any]) -> list[str]:
    return [f"{float(figure['ttft_ms']):.1f}", _tps(figure)]


def _tps(figure: Mapping[str, Any], cpus: int | None = None) -> str:
    """Tokens a second, and a second per CPU where ``cpus`` served them."""
    rate = float(figure["tokens_per_s"])
    return f"{rate:.1f} ({rate / cpus:.1f} per CPU, {cpus} CPUs)" if cpus else f"{rate:.1f}"


def ttft_overhead(results: Results) -> Reading:
    """Issue 22: time to first token through one replica, minus plain ``ladle serve``'s."""
    cluster = number(results, "cluster", "cluster_1_replica", "ttft_ms") / 1000
    plain = number(results, "cluster", "plain", "ttft_ms") / 1000
    return Reading(
        Side("cluster", Stat.single(cluster), "s"),
        (cluster - plain) * 1000,
        Side("plain", Stat.single(plain), "s"),
    )


def stream_ratio(results: Results) -> Reading:
    """Issue 22: one stream's tokens/s through one replica over plain ``ladle serve``."""
    cluster = number(results, "cluster", "cluster_1_replica", "tokens_per_s")
    plain = number(results, "cluster", "plain", "tokens_per_s")
    return Reading(
        Side("cluster", Stat.single(cluster), "tok/s"),
        cluster / plain,
        Side("plain", Stat.single(plain), "tok/s"),
    )
