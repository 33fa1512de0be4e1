"""Registry speed (issue: distribution).

Targets, against a registry on loopback (Debian's ``docker-registry``, distribution 2.8,
started here with its storage in a temp folder), with the 253 MB Gemma 3 270M image:

* ``pull``: at least half of curl's throughput downloading the same blob (``GET``);
* ``push``: at least half of curl's throughput uploading it (``POST``, then
  ``curl --upload-file`` to the upload location with ``?digest=``).

Runs alternate ladle and curl, so that both see the same page cache and registry state,
and each starts after ``sync``, so that none pays for the writeback of the one before.
ladle's figure covers the whole image (manifest, every blob, digests verified, fsync, the
tag written); curl's only the weights' bytes. Each push goes to a new repository, so
nothing is skipped or mounted; each pull goes to an empty store. The pull is also timed
through the ``ladle`` command (a new process: startup included).
"""

from __future__ import annotations

import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from builder.distribution import pull_model, push_model
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.settings import Settings

IMAGE = "gemma3:270m"


def _timed(action: Callable[[], object]) -> float:
    """Seconds ``action`` takes, started with no dirty pages left from the last one (so
    that one run's writeback does not slow the next)."""
    os.sync()
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _figures(samples: list[float], size: int) -> dict[str, float]:
    median = statistics.median(samples)
    return {
        "median_s": median,
        "min_s": min(samples),
        "max_s": max(samples),
        "median_mb_per_s": size / median / 1e6,
    }


def _curl_get(url: str, target: Path) -> None:
    subprocess.run(["curl", "-sSf", "-o", str(target), url], check=True)


def _curl_put(host: str, repository: str, blob: Path, digest: str) -> None:
    started = httpx.post(f"http://{host}/v2/{repository}/blobs/uploads/")
    location = httpx.URL(f"http://{host}/").join(started.headers["location"])
    target = location.copy_merge_params({"digest": digest})
    subprocess.run(
        ["curl", "-sSf", "-o", "/dev/null", "--upload-file", str(blob), str(target)], check=True
    )


def run(quick: bool = False) -> dict[str, Any]:
    """Pull and push the Gemma image ``runs`` times each, alternating with curl."""
    from tests.fixtures.registry import RegistryServer, registry_binary

    if registry_binary() is None or shutil.which("curl") is None:
        return {"skipped": "docker-registry or curl is not installed"}
    runs = 1 if quick else 5
    with tempfile.TemporaryDirectory(dir=Path.home()) as scratch:
        work = Path(scratch)
        server = RegistryServer(work / "registry")
        try:
            return _measure(work, server.host, runs)
        finally:
            server.stop()


def _measure(work: Path, host: str, runs: int) -> dict[str, Any]:
    settings = Settings(models=work / "source")
    source = Store(settings.models)
    pull_model(IMAGE, source, settings)  # imported from the bundled packages
    manifest = source.get(ModelName.parse(IMAGE)).manifest
    weights = manifest.layers[0]
    blob = source.blob_path(weights.digest)
    image_bytes = manifest.size

    remote = f"{host}/bench/push-0"
    url = f"http://{host}/v2/bench/push-0/blobs/{weights.digest}"
    push, curl_push, pull, curl_pull, cli_pull = [], [], [], [], []
    for index in range(runs):
        name = f"{host}/bench/push-{index}"
        source.put_manifest(ModelName.parse(name), manifest)
        push.append(_timed(functools.partial(push_model, name, source, settings)))
        source.delete(ModelName.parse(name))  # so the next push cannot mount from it
        curl_push.append(
            _timed(functools.partial(_curl_put, host, f"bench/curl-{index}", blob, weights.digest))
        )
    for index in range(runs):
        target = Store(work / f"pull-{index}")
        pull.append(_timed(functools.partial(pull_model, remote, target, settings)))
        shutil.rmtree(target.root)
        curl_pull.append(_timed(lambda: _curl_get(url, work / "curl.bin")))
        (work / "curl.bin").unlink()
        cli_pull.append(_cli_pull(remote, work / f"cli-{index}"))
        shutil.rmtree(work / f"cli-{index}")

    results: dict[str, Any] = {
        "image": IMAGE,
        "image_bytes": image_bytes,
        "weights_bytes": weights.size,
        "runs": runs,
        "pull": _figures(pull, image_bytes),
        "pull_cli": _figures(cli_pull, image_bytes),
        "curl_get": _figures(curl_pull, weights.size),
        "push": _figures(push, image_bytes),
        "curl_upload": _figures(curl_push, weights.size),
    }
    results["pull_vs_curl"] = (
        results["pull"]["median_mb_per_s"] / results["curl_get"]["median_mb_per_s"]
    )
    results["push_vs_curl"] = (
        results["push"]["median_mb_per_s"] / results["curl_upload"]["median_mb_per_s"]
    )
    return results


def _cli_pull(remote: str, models: Path) -> float:
    ladle = Path(sys.executable).parent / "ladle"
    env = {**os.environ, "LADLE_MODELS": str(models)}
    return _timed(
        lambda: subprocess.run(
            [str(ladle), "pull", remote], env=env, check=True, capture_output=True
        )
    )


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
