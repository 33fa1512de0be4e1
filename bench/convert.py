"""Converting a Hugging Face checkpoint into a GGUF (issue 20).

The folder is SmolLM2-135M-Instruct's: the bundled GGUF dequantized and written out as
a Hugging Face checkpoint (one 538 MB F32 ``model.safetensors``, ``config.json``, a
``tokenizer.json``), as the round-trip tests write it. Each run converts it in a fresh
process into a fresh store (``builder.convert.imported.import_checkpoint``, what ``FROM
./folder`` runs), and records the wall time and the process's peak RSS, and its RSS
once ladle, numpy, gguf-py and tokenizers are imported, before the conversion starts:
the difference is what converting holds. The target (issue 20): a peak under twice the
largest shard, since tensors are streamed one at a time. A last run converts the same
folder into the same store again: the cache answers, after hashing the files.

    python -m bench --only convert
    python -m bench.convert --child FOLDER STORE   # one conversion, its figures as JSON
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import REPO
from bench.stats import summary

RUNS = {False: 3, True: 1}
"""Conversions into a fresh store, full run and quick run."""


def run(quick: bool = False) -> dict[str, Any]:
    """The conversion's figures: seconds, peak and baseline RSS, the folder's sizes."""
    from tests.builder.convert.hf_export import write_hf_folder
    from tests.fixtures.installed import smollm2_gguf

    with tempfile.TemporaryDirectory(prefix="ladle-bench-convert-") as temp:
        folder = Path(temp) / "smollm2-hf"
        write_hf_folder(smollm2_gguf(), folder)
        shards = [path.stat().st_size for path in folder.glob("*.safetensors")]
        runs = [_child(folder, Path(temp) / f"store-{i}") for i in range(RUNS[quick])]
        cached = _child(folder, Path(temp) / "store-0")
    if not cached["cached"] or any(each["cached"] for each in runs):
        raise RuntimeError("the cache answered a fresh store, or missed a warm one")
    return {
        "folder_bytes": sum(path for path in shards),
        "largest_shard_bytes": max(shards),
        "gguf_bytes": runs[0]["gguf_bytes"],
        "convert": summary([each["seconds"] for each in runs]),
        "peak_rss_bytes": summary([each["peak_rss_bytes"] for each in runs]),
        "baseline_rss_bytes": summary([each["baseline_rss_bytes"] for each in runs]),
        "cached": summary([cached["seconds"]]),
        "runs": len(runs),
    }


def _child(folder: Path, store: Path) -> dict[str, Any]:
    """One conversion in a fresh process (so its peak RSS is the conversion's alone)."""
    argv = [sys.executable, "-m", "bench.convert", "--child", str(folder), str(store)]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _convert(folder: Path, store_root: Path) -> dict[str, Any]:
    from builder.convert.imported import import_checkpoint
    from builder.convert.vocabulary import pre_tokenizer  # tokenizers imported before timing
    from builder.store.store import Store

    del pre_tokenizer
    import tokenizers  # noqa: F401  (imported by the conversion; counted in the baseline)

    store = Store(store_root)
    baseline = _peak_rss()
    started = time.perf_counter()
    model = import_checkpoint(folder, store)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "peak_rss_bytes": _peak_rss(),
        "baseline_rss_bytes": baseline,
        "gguf_bytes": model.size,
        "cached": model.cached,
    }


def _peak_rss() -> int:
    """This process's peak resident set, in bytes: ``VmHWM`` (reset at exec, where
    ``ru_maxrss`` keeps the parent's peak across fork and exec), else ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"] and len(sys.argv) == 4:
        print(json.dumps(_convert(Path(sys.argv[2]), Path(sys.argv[3]))))
    else:
        print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
