"""``ladle serve --cluster`` against plain ``ladle serve``, on this machine, same model.

1. plain ``ladle serve`` and ``ladle serve --cluster local`` with one replica: time to
   first token (median of sequential requests) and one stream's tokens a second, with
   ``num_thread`` one less than the cores (:func:`headroom`: the figures the issue's
   targets read) and with every core;
2. a two-node cluster (``ray.cluster_utils``, both nodes on this machine) with two
   replicas: aggregate tokens a second at 8 streams, and per Ray CPU.

Run: ``python -m bench.cluster [--quick]`` (a few minutes on 2 idle cores; prints JSON,
and each phase's result to stderr as it comes). The model is
the bundled SmolLM2-135M (``ladle[models]``).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.servers import free_port, started

MODEL = "smollm2:135m"
PROMPT = "Write a short story about a lighthouse keeper."
TOKENS = 48
SEQUENTIAL = 9
THREADS: int | None = None
"""``num_thread`` of the all-cores figures (None: the server's choice, every core)."""
STREAMS = 8
NODE_CPUS = 1
"""Ray CPUs of each of the two simulated nodes."""
ROOT = Path(__file__).resolve().parents[1]


def headroom(cores: int) -> int:
    """Threads that leave one core to the serving processes (at least one).

    llama.cpp's threads meet at a barrier after every operation, spinning: when a thread
    loses its core for a moment, the others wait for it. Plain ``ladle serve`` has one
    process beside its runner; a cluster has Ray Serve's proxy, the ingress and the pool
    replica (each working on every chunk) and Ray's controller, GCS and agents (working
    every second). With every core given to llama.cpp, their CPU time on a small machine
    turns into stalls of the runner; with one core left, into nothing."""
    return max(1, cores - 1)


def stream(client: httpx.Client, url: str, threads: int | None = None) -> dict[str, float]:
    """One streamed generate: seconds to the first token, tokens, tokens a second after it.

    ``client`` is kept across requests, as the official clients keep theirs: a new
    ``httpx.Client`` costs 20-30 ms on this machine before it sends anything (it loads its
    TLS certificates), which would be timed as part of every first token."""
    options = {"num_predict": TOKENS, "seed": 1}
    threads = threads or THREADS
    if threads is not None:
        options["num_thread"] = threads
    body = {"model": MODEL, "prompt": PROMPT, "options": options}
    start = time.perf_counter()
    first = last = 0.0
    tokens = 0
    with client.stream("POST", f"{url}/api/generate", json=body, timeout=300) as answer:
        for line in answer.iter_lines():
            piece = json.loads(line)
            if piece.get("error"):
                raise RuntimeError(piece["error"])
            if piece.get("response"):
                now = time.perf_counter()
                first = first or now
                last, tokens = now, tokens + 1
    rate = (tokens - 1) / (last - first) if tokens > 1 and last > first else 0.0
    return {"ttft_s": first - start, "tokens": tokens, "tokens_per_s": rate}


def one_stream(url: str, threads: int | None = None) -> dict[str, float]:
    """Median time to first token and tokens a second over sequential requests."""
    with httpx.Client() as client:
        stream(client, url, threads)  # loads the model
        runs = [stream(client, url, threads) for _ in range(SEQUENTIAL)]
    return {
        "threads": threads or THREADS or 0,
        "ttft_ms": 1000 * statistics.median(run["ttft_s"] for run in runs),
        "tokens_per_s": statistics.median(run["tokens_per_s"] for run in runs),
    }


def aggregate(url: str, streams: int) -> dict[str, float]:
    """Tokens a second over ``streams`` concurrent streams."""
    limits = httpx.Limits(max_connections=streams, max_keepalive_connections=streams)
    with httpx.Client(limits=limits) as client:
        stream(client, url)
        start = time.perf_counter()
        with ThreadPoolExecutor(streams) as pool:
            runs = list(pool.map(lambda _: stream(client, url), range(streams)))
        wall = time.perf_counter() - start
    return {"tokens_per_s": sum(run["tokens"] for run in runs) / wall, "streams": streams}


def wait_ready(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/version", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"no server at {url} after {timeout} s")


@contextmanager
def serving(models: Path, *extra: str, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """``ladle serve`` (with ``extra`` arguments) over ``models``; its URL."""
    port = free_port()
    environ = {**os.environ, "LADLE_MODELS": str(models), "LADLE_HOST": f"127.0.0.1:{port}"}
    argv = [sys.executable, "-m", "ladle", "serve", *extra]
    with started(argv, port, {**environ, **(env or {})}, cwd=ROOT) as server:
        wait_ready(server.url)
        yield server.url


@contextmanager
def two_nodes(models: Path) -> Iterator[str]:
    """Two Ray nodes on this machine (1 CPU each), two replicas; the HTTP URL."""
    import ray
    from ray import serve
    from ray.cluster_utils import Cluster

    from ladle.settings import Settings
    from runtime.cluster.deploy import NAMESPACE, deploy, system_config, undeploy
    from runtime.cluster.settings import ClusterSettings

    head = {"num_cpus": NODE_CPUS, "_system_config": system_config()}
    cluster = Cluster(initialize_head=True, head_node_args=head)
    cluster.add_node(num_cpus=NODE_CPUS)
    ray.init(address=cluster.address, namespace=NAMESPACE, log_to_driver=False)
    port = free_port()
    env = {**os.environ, "LADLE_MODELS": str(models), "LADLE_HOST": f"127.0.0.1:{port}"}
    settings = Settings.from_environment(env)
    sizes = ClusterSettings(min_replicas=2, max_replicas=2, replica_cpus=0.5, ingress_cpus=0.25)
    try:
        deploy(settings, sizes)
        yield settings.url
    finally:
        undeploy()
        serve.shutdown()  # type: ignore[no-untyped-call]
        ray.shutdown()
        cluster.shutdown()  # type: ignore[no-untyped-call]


def shown(phase: str, result: dict[str, float]) -> dict[str, float]:
    """``result``, printed to stderr as it comes (a long run keeps what it measured)."""
    print(json.dumps({phase: result, "load_average": os.getloadavg()}), file=sys.stderr)
    return result


def run(quick: bool = False) -> dict[str, Any]:
    """The figures; ``quick`` changes nothing (the phases are already short)."""
    from builder.distribution import pull_model
    from builder.store.store import Store
    from ladle.settings import Settings

    results: dict[str, Any] = {"model": MODEL, "tokens": TOKENS, "threads": THREADS}
    cores = os.cpu_count() or 1
    results["cores"], results["ray_cpus_two_nodes"] = cores, 2 * NODE_CPUS
    with tempfile.TemporaryDirectory(prefix="ladle-bench-cluster-") as folder:
        models = Path(folder) / "models"
        env = {**os.environ, "LADLE_MODELS": str(models)}
        pull_model(MODEL, Store(models), Settings.from_environment(env))
        spare = headroom(cores)
        with serving(models) as url:
            results["plain"] = shown("plain", one_stream(url, spare))
            results["plain_all_cores"] = shown("plain_all_cores", one_stream(url))
            results["plain_8_streams"] = shown("plain_8_streams", aggregate(url, STREAMS))
        one = {
            "LADLE_CLUSTER_MIN_REPLICAS": "1",
            "LADLE_CLUSTER_MAX_REPLICAS": "1",
            "LADLE_CLUSTER_REPLICA_CPUS": str(cores),  # every core, as plain serve's runner
            "LADLE_CLUSTER_LOCAL_CPUS": str(cores + 1),  # and room for the ingress
        }
        with serving(models, "--cluster", "local", env=one) as url:
            results["cluster_1_replica"] = shown("cluster_1_replica", one_stream(url, spare))
            every = one_stream(url)
            results["cluster_1_replica_all_cores"] = shown("cluster_1_replica_all_cores", every)
        with two_nodes(models) as url:
            two = shown("cluster_2_replicas_2_nodes", aggregate(url, STREAMS))
            results["cluster_2_replicas_2_nodes"] = two
    plain, cluster = results["plain"], results["cluster_1_replica"]
    results["ttft_overhead_ms"] = cluster["ttft_ms"] - plain["ttft_ms"]
    results["tokens_per_s_ratio"] = cluster["tokens_per_s"] / plain["tokens_per_s"]
    results["load_average"] = os.getloadavg()
    return results


if __name__ == "__main__":
    if "--quick" in sys.argv[1:]:  # a loaded machine: fewer, shorter answers, and one
        # thread a runner, as llama.cpp's threads wait for each other on busy cores
        TOKENS, SEQUENTIAL, THREADS = 16, 3, 1
    print(json.dumps(run(), indent=2))
