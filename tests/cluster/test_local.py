"""``ladle serve --cluster local``: the command starts Ray on this machine itself."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import httpx
import pytest

from bench.servers import free_port, process_tree, started
from builder.store.store import Store
from tests.fixtures.installed import require_package
from tests.runtime.api.conftest import TINY_MODELFILE, build

from .conftest import CLUSTER_EXTRA, runner_children

pytestmark = pytest.mark.cluster


def test_serve_cluster_local_answers_and_its_runner_is_not_reniced(
    tmp_path: Path, tiny_model: Path
) -> None:
    """A chat is answered, by a runner at niceness 0: Ray's default for its workers (15)
    would put llama.cpp below Ray's own processes (runtime.cluster.deploy.WORKER_NICENESS)."""
    require_package("ray", CLUSTER_EXTRA)
    store = Store(tmp_path / "models")
    build(store, tmp_path / "src", "tiny", TINY_MODELFILE.format(model=tiny_model))
    port = free_port()
    env = {
        **os.environ,
        "LADLE_MODELS": str(store.root),
        "LADLE_HOST": f"127.0.0.1:{port}",
        "LADLE_CLUSTER_LOCAL_CPUS": "2",
    }
    argv = [sys.executable, "-m", "ladle", "serve", "--cluster", "local"]
    with started(argv, port, env) as server:
        server.wait_ready("/api/version", timeout=120)
        body = {"model": "tiny", "prompt": "hi", "stream": False, "options": {"num_predict": 4}}
        answer = httpx.post(f"{server.url}/api/generate", json=body, timeout=120)
        assert answer.status_code == 200, answer.text
        assert answer.json()["done"]
        runners = {runner for pid in process_tree(server.pid) for runner in runner_children(pid)}
        assert runners, "no runner under the command's processes"
        assert {os.getpriority(os.PRIO_PROCESS, runner) for runner in runners} == {0}


@pytest.mark.parametrize("niceness", [0, 15])
def test_a_replica_above_niceness_0_says_how_to_fix_it(
    niceness: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    require_package("ray", CLUSTER_EXTRA)
    from runtime.cluster.pool import check_niceness

    monkeypatch.setattr(os, "getpriority", lambda *_: niceness)
    with caplog.at_level(logging.WARNING, logger="runtime.cluster.pool"):
        assert check_niceness() == niceness
    assert ("RAY_worker_niceness=0" in caplog.text) == (niceness > 0)
