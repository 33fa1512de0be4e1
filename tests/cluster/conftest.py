"""One real Ray cluster for tests/cluster: two nodes on this machine, one CPU each.

The head node's store (its ``LADLE_MODELS``) has the models, built from the tiny GGUF
and pushed to the tests' registry under registry names; the second node's store starts
empty, so a replica there pulls what it serves (verified by digest). The cluster is
started once for the module and shut down after it: the machine is shared.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.servers import free_port
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.settings import Settings
from tests.fixtures.installed import require_package
from tests.fixtures.registry import RegistryServer
from tests.runtime.api.conftest import TINY_MODELFILE, build

CLUSTER_EXTRA = "pip install -e '.[cluster]'"
MODELS = ("tiny-a", "tiny-b", "tiny-c")
"""Three images of the same weights, told apart by their SYSTEM (so by digest)."""


@dataclass(frozen=True)
class RayCluster:
    """The running cluster, the driver's settings and the models' registry names."""

    settings: Settings
    head_store: Store
    node_store: Store
    models: tuple[str, ...]

    @property
    def url(self) -> str:
        return self.settings.url


def push_models(root: Path, tiny_model: Path, registry: RegistryServer) -> tuple[Store, list[str]]:
    """Build the test models into a store and push them to ``registry``."""
    from builder.distribution import push_model

    store = Store(root / "head")
    settings = Settings.from_environment({**os.environ, "LADLE_MODELS": str(store.root)})
    names = []
    for model in MODELS:
        text = TINY_MODELFILE.format(model=tiny_model).replace("You are tiny.", f"You are {model}.")
        text = text.replace("num_ctx 256", "num_ctx 1024")
        build(store, root / "src", model, text)
        local, name = ModelName.parse(model), ModelName.parse(f"{registry.host}/ladle/{model}")
        store.put_manifest(name, store.get(local).manifest, store.manifest_bytes(local))
        store.delete(local)  # the cluster serves registry names only: any node can pull them
        push_model(name.full(), store, settings)
        names.append(name.display())
    return store, names


@pytest.fixture(scope="module")
def ray_cluster(
    tmp_path_factory: pytest.TempPathFactory, tiny_long_model: Path, registry: RegistryServer
) -> Iterator[RayCluster]:
    """Two Ray nodes (1 CPU each); the driver connected; shut down after the module.

    The models have a 1,024-token context, so that a stream can outlast a replica's kill."""
    require_package("ray", CLUSTER_EXTRA)
    import ray
    from ray import serve
    from ray.cluster_utils import Cluster

    from runtime.cluster.deploy import NAMESPACE, system_config

    root = tmp_path_factory.mktemp("cluster")
    head, names = push_models(root, tiny_long_model, registry)
    node = Store(root / "node")
    head_args = {
        "num_cpus": 1,
        "include_dashboard": False,
        "env_vars": env_of(head),
        "_system_config": system_config(),  # as ladle's local cluster
    }
    cluster = Cluster(initialize_head=True, head_node_args=head_args)
    cluster.add_node(num_cpus=1, env_vars=env_of(node))
    ray.init(address=cluster.address, namespace=NAMESPACE, log_to_driver=False)
    environ = {
        **os.environ,
        **env_of(head),
        "LADLE_HOST": f"127.0.0.1:{free_port()}",
        "LADLE_NUM_PARALLEL": "2",
    }
    try:
        yield RayCluster(Settings.from_environment(environ), head, node, tuple(names))
    finally:
        serve.shutdown()  # type: ignore[no-untyped-call]
        ray.shutdown()
        cluster.shutdown()  # type: ignore[no-untyped-call]


def env_of(store: Store) -> dict[str, str]:
    """What a node's environment says differently: its own store."""
    return {"LADLE_MODELS": str(store.root)}


def runner_children(pid: int) -> set[int]:
    """The runner processes whose parent is ``pid``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"runtime.runner" in command:
            found.add(int(entry.name))
    return found
