"""``ladle serve --cluster`` on a real two-node Ray cluster (one machine): the official
clients against its HTTP address, replicas on both nodes, failover, model routing and
eviction, autoscaling, and a node pulling the image it lacks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import ollama
import openai
import pytest

from runtime.cluster.settings import ClusterSettings

from .conftest import RayCluster, runner_children

pytestmark = pytest.mark.cluster

POOL = "ladle-pool"
FIXED = ClusterSettings(
    min_replicas=2,
    max_replicas=2,
    models_per_replica=2,
    replica_cpus=0.5,
    ingress_cpus=0.25,
    health_period=1.0,
    drain_timeout=5.0,
)
"""Two replicas: one fits on the head beside the ingress, so the other is on node two."""
SCALING = FIXED.model_copy(
    update={"min_replicas": 1, "max_replicas": 3, "upscale_delay": 0.5, "downscale_delay": 2.0}
)


@pytest.fixture(scope="module")
def served(ray_cluster: RayCluster) -> Iterator[RayCluster]:
    from runtime.cluster.deploy import deploy, undeploy

    deploy(ray_cluster.settings, FIXED)
    yield ray_cluster
    undeploy()


def chat(cluster: RayCluster, model: str, **options: Any) -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": False}
    answer = httpx.post(f"{cluster.url}/api/chat", json={**body, **options}, timeout=60)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def held(cluster: RayCluster) -> list[dict[str, Any]]:
    """``/api/ps``'s entries: one per model per replica."""
    answer = httpx.get(f"{cluster.url}/api/ps", timeout=30)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["models"])


def wait_for(check: Callable[[], bool], timeout: float, what: str, every: float = 0.25) -> float:
    """Seconds until ``check()``, asked ``every`` seconds; fails after ``timeout``."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, f"not within {timeout} s: {what}"
        time.sleep(every)
    return time.monotonic() - start


# -- the official clients ------------------------------------------------------------


def test_ollama_client_chats_streams_embeds_lists_and_shows(served: RayCluster) -> None:
    client = ollama.Client(host=served.url)
    model = served.models[0]
    answer = client.chat(model=model, messages=[{"role": "user", "content": "hi"}])
    assert answer.done and answer.eval_count and answer.eval_count > 0
    pieces = list(
        client.chat(model=model, messages=[{"role": "user", "content": "hi"}], stream=True)
    )
    assert pieces[-1].done and len(pieces) > 2
    vectors = client.embed(model=model, input=["one", "two"]).embeddings
    assert len(vectors) == 2 and abs(sum(x * x for x in vectors[0]) - 1) < 1e-3
    assert model in {entry.model for entry in client.list().models}
    assert "You are tiny-a." in (client.show(model).modelfile or "")


def test_openai_client_chats_streams_embeds_and_lists(served: RayCluster) -> None:
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key="unused")
    model = served.models[0]
    messages: Any = [{"role": "user", "content": "hi"}]
    answer = client.chat.completions.create(model=model, messages=messages)
    assert answer.usage is not None and answer.usage.completion_tokens > 0
    stream = client.chat.completions.create(model=model, messages=messages, stream=True)
    chunks = list(stream)
    assert chunks[-1].choices[-1].finish_reason in ("length", "stop")
    embedding = client.embeddings.create(model=model, input="one").data[0].embedding
    assert len(embedding) > 0
    assert model in {entry.id for entry in client.models.list()}


# -- replicas, nodes, and images pulled by digest --------------------------------------


def test_requests_spread_over_replicas_on_both_nodes(served: RayCluster) -> None:
    model = served.models[0]
    with ThreadPoolExecutor(12) as pool:  # more than one replica takes (2 slots x 2 models)
        list(pool.map(lambda _: chat(served, model, options={"num_predict": 16}), range(12)))
    entries = [entry for entry in held(served) if entry["model"] == model]
    assert len({entry["replica"] for entry in entries}) == 2, entries
    assert len({entry["node"] for entry in entries}) == 2, entries
    shown = subprocess.run(
        [sys.executable, "-m", "ladle", "ps"],
        env={**os.environ, "LADLE_HOST": served.url},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert shown[0].split()[-2:] == ["REPLICA", "NODE"]
    rows = [line for line in shown[1:] if line.startswith(model)]
    assert {row.split()[-2] for row in rows} == {entry["replica"] for entry in entries}


def test_model_runners_run_at_ray_worker_niceness_0_on_both_nodes(served: RayCluster) -> None:
    """Not Ray's default 15, below its own processes (runtime.cluster.deploy.WORKER_NICENESS)."""
    model = served.models[0]
    with ThreadPoolExecutor(12) as pool:
        list(pool.map(lambda _: chat(served, model, options={"num_predict": 4}), range(12)))
    runners = {runner: node for node, pid in replicas().values() for runner in runner_children(pid)}
    assert len(set(runners.values())) == 2, runners
    assert {runner: os.getpriority(os.PRIO_PROCESS, runner) for runner in runners} == dict.fromkeys(
        runners, 0
    )


def test_a_node_without_the_image_pulled_it_by_digest(served: RayCluster) -> None:
    """The second node's store was empty: its replica pulled the image from the registry
    its name names, and holds the manifest the head resolved."""
    from builder.store.names import ModelName

    name = ModelName.parse(served.models[0])
    assert served.node_store.get(name).digest == served.head_store.get(name).digest


# -- failover -------------------------------------------------------------------------


@dataclass
class Outcome:
    """How one streamed request went, as its client saw it."""

    chunks: int = 0
    done: bool = False
    error: str | None = None


def stream_one(
    cluster: RayCluster,
    model: str,
    outcome: Outcome | None = None,
    tokens: int = 16,
    timeout: float = 90,
) -> Outcome:
    """A streamed generate; ``timeout`` is the longest wait for the server's next bytes
    (its first among them: a request queued behind others waits for a slot)."""
    outcome = outcome or Outcome()
    body = {"model": model, "prompt": "hi", "options": {"num_predict": tokens}}
    url = f"{cluster.url}/api/generate"
    try:
        with httpx.stream("POST", url, json=body, timeout=timeout) as answer:
            if answer.status_code != 200:
                outcome.error = f"{answer.status_code} {answer.read().decode()}"
                return outcome
            for line in answer.iter_lines():
                if '"error"' in line:
                    outcome.error = line
                elif line:
                    outcome.chunks += 1
                    outcome.done = '"done":true' in line
    except httpx.HTTPError as error:
        outcome.error = repr(error)
    return outcome


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def replicas(attempts: int = 30) -> dict[str, tuple[str, int]]:
    """The pool's replicas that answer, by id: (node, pid)."""
    from ray import serve

    pool = serve.get_deployment_handle(POOL, app_name="ladle")
    seen = {}
    for _ in range(attempts):
        replica, node, pid = pool.identity.remote().result(timeout_s=30)
        seen[replica] = (node, pid)
    return seen


def listed(cluster: RayCluster) -> list[str]:
    """The pool's replicas, as the directory has heard from them."""
    import ray

    from runtime.cluster.directory import reach

    return list(ray.get(reach(1.0).replicas.remote(), timeout=30))


def test_a_replica_whose_runner_died_is_replaced(served: RayCluster) -> None:
    """Its health check fails (every second here), and Ray Serve starts another."""
    model = served.models[1]
    chat(served, model)
    before = replicas()
    (holder,) = [entry["replica"] for entry in held(served) if entry["model"] == model]
    for runner in runner_children(before[holder][1]):
        os.kill(runner, signal.SIGKILL)
    took = wait_for(lambda: holder not in listed(served), 30, "the replica replaced")
    wait_for(lambda: bool(set(listed(served)) - set(before)), 30, "a new replica")
    assert chat(served, model)["done"]
    print(f"dead runner: its replica gone {took:.1f} s after")


def test_a_killed_replica_fails_no_request_not_yet_streaming(served: RayCluster) -> None:
    """The victim is the one replica that holds the model asked for, so it is busy (the
    other takes what it cannot) when it is killed."""
    model = served.models[2]
    chat(served, model)
    before = replicas()
    (holder,) = [entry["replica"] for entry in held(served) if entry["model"] == model]
    victim = before[holder][1]
    runners = runner_children(victim)
    assert runners
    # The directory hears from a replica as it starts and at each health check: the load
    # keeps the survivor's slots full, so a probe through the handle would queue behind it.
    replaced = lambda: bool(set(listed(served)) - set(before))  # noqa: E731
    # The victim's runners are stopped before it is killed, so that the streams it was
    # answering are part-way for sure (the tiny model writes a whole answer in less time
    # than the client takes to read it) and the kill lands in the middle of them.
    # 40 streams of 900 tokens are minutes of work for one replica on a loaded 2-core
    # machine: a request queued behind them may wait longer than the usual 90 s for its
    # first bytes, which is a slow machine, not a failure.
    outcomes = [Outcome() for _ in range(40)]
    with ThreadPoolExecutor(41) as pool:
        running = [
            pool.submit(stream_one, served, model, outcome, 900, timeout=600)
            for outcome in outcomes
        ]
        wait_for(lambda: any(o.chunks > 0 for o in outcomes), 60, "a stream under way", 0.005)
        for runner in runners:
            os.kill(runner, signal.SIGSTOP)
        time.sleep(0.5)
        os.kill(victim, signal.SIGKILL)
        for runner in runners:
            os.kill(runner, signal.SIGCONT)
        replacement = pool.submit(wait_for, replaced, 30, "a replacement serving")
        results = [outcome.result() for outcome in running]
        took = replacement.result()
    unstarted_failures = [r for r in results if r.error is not None and r.chunks == 0]
    assert unstarted_failures == [], unstarted_failures
    for result in results:
        assert result.done or (result.error and "replica died while streaming" in result.error)
    cut = sum(result.error is not None for result in results)
    assert cut >= 1, "the victim was streaming when it was killed"
    wait_for(lambda: not any(alive(pid) for pid in runners), 10, "the runners exit")
    assert holder not in replicas(10)
    # Listed by the directory is not yet routed to by every handle: ask until it answers.
    wait_for(lambda: bool(set(replicas(10)) - set(before)), 30, "the replacement serves")
    print(f"failover: {cut} streams cut, {40 - cut} done; a replacement up {took:.1f} s after")


def test_keep_alive_0_unloads_the_model_from_every_replica(served: RayCluster) -> None:
    """As under ``ladle serve``: the runner stops on each replica that held the model,
    ``ps`` no longer lists it, and the next request loads it again."""
    model = served.models[0]
    chat(served, model)
    pids = replicas()
    holders = {entry["replica"] for entry in held(served) if entry["model"] == model}
    assert holders
    before = set().union(*(runner_children(pids[replica][1]) for replica in holders))
    assert before
    chat(served, model, keep_alive=0)
    unloaded = lambda: all(entry["model"] != model for entry in held(served))  # noqa: E731
    took = wait_for(unloaded, 15, "the model gone from every replica")
    wait_for(lambda: any(not alive(pid) for pid in before), 10, "its runner exits")
    assert chat(served, model)["done"]  # loaded again where the request lands
    assert any(entry["model"] == model for entry in held(served))
    print(f"keep_alive 0: unloaded from {len(holders)} replica(s) {took:.1f} s after")


# -- routing, eviction and autoscaling ---------------------------------------------------


def pool_replicas() -> int:
    from ray import serve

    deployment = serve.status().applications["ladle"].deployments[POOL]
    return sum(count for state, count in deployment.replica_states.items() if state == "RUNNING")


def test_models_stay_put_the_least_recent_goes_and_replicas_scale(served: RayCluster) -> None:
    from runtime.cluster.deploy import deploy

    deploy(served.settings, SCALING)
    wait_for(lambda: pool_replicas() == 1, 60, "one replica")
    a, b, c = served.models
    for model in (a, b, a, b):
        chat(served, model)
    first = {entry["model"]: entry for entry in held(served)}
    assert set(first) == {a, b} and first[a]["replica"] == first[b]["replica"]
    assert first[a]["requests"] >= 1  # reported at the next health check at the latest
    chat(served, a)
    chat(served, c)  # the replica holds two: b, used least recently, goes
    wait_for(lambda: {entry["model"] for entry in held(served)} == {a, c}, 10, "b evicted")

    stop = threading.Event()
    outcomes: list[Outcome] = []

    def load() -> None:  # streams long enough to be mostly on the pool, not on the way
        while not stop.is_set():
            outcomes.append(stream_one(served, a, tokens=128))

    workers = [threading.Thread(target=load) for _ in range(10)]
    for worker in workers:
        worker.start()
    try:
        up = wait_for(lambda: pool_replicas() == 3, 60, "three replicas")
    finally:
        stop.set()
        stopped = time.monotonic()
        for worker in workers:
            worker.join()
    wait_for(lambda: pool_replicas() == 1, 60, "back to one replica")
    down = time.monotonic() - stopped
    assert [outcome for outcome in outcomes if not outcome.done] == []  # none cut by scaling
    print(f"autoscaling: 1 -> 3 in {up:.1f} s, 3 -> 1 in {down:.1f} s")
