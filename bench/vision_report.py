"""The vision section of the benchmark report (:mod:`bench.vision_bench`), from
``results["vision"]`` of ``make bench``'s results; ``python -m bench.vision_bench`` alone
prints the figures.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Mapping
from typing import Any

from bench.markdown import table

LLAVA_15_PROJECTOR_BYTES = 624_000_000
"""LLaVA 1.5's f16 projector (CLIP ViT-L/14 at 336 px and a 2-layer MLP), for scale."""
LLAVA_15_IMAGE_TOKENS = 576


def main(run: Callable[[bool], dict[str, Any]]) -> int:
    """Measure and print the figures (``--quick``: fewer runs)."""
    import sys

    results = run("--quick" in sys.argv[1:])
    results["machine"] = {"host": platform.node(), "cpus": os.cpu_count()}
    results["date"] = time.strftime("%Y-%m-%d", time.gmtime())
    print(json.dumps(results, indent=2))
    return 0


def section(results: Mapping[str, Any]) -> list[str]:
    """The section of ``make bench``'s report, from ``results["vision"]``."""
    found = results.get("vision")
    if not isinstance(found, Mapping):
        return []
    if "runner" not in found:
        why = found.get("error") or found.get("skipped") or "no figures"
        return ["## Images (issue 21)", "", f"Not measured in this run: {why}.", ""]
    machine = results.get("machine", {})
    host, cpus = machine.get("host", "?"), machine.get("logical_cores", "?")
    return _lines(found, host, cpus, str(machine.get("date", "?"))[:10])


def _lines(results: Mapping[str, Any], host: str, cpus: object, date: str) -> list[str]:
    runner, decode = results["runner"], results["decode"]
    side = results["image_side"]
    rows = [
        [
            f"decode and check a {side}x{side} PNG ({decode['png']['bytes']:,} bytes)",
            _ms(decode["png"]),
        ],
        [
            f"decode and check a {side}x{side} JPEG ({decode['jpeg']['bytes']:,} bytes)",
            _ms(decode["jpeg"]),
        ],
        ["mtmd preprocessing (resize to 56x56, normalise)", _ms(runner["preprocess"])],
        [f"projector encode ({runner['image_tokens']} image tokens)", _ms(runner["encode"])],
        ["time to first token, one image and `hello`", _ms(runner["ttft_with_image"])],
        ["time to first token, text only", _ms(runner["ttft_text_only"])],
    ]
    return [
        "## Images (issue 21)",
        "",
        f"`bench/vision_bench.py` on `{host}` "
        f"({cpus} CPUs, load average {results['load_average']:.1f} while "
        f"it ran), {date}. One {side}x{side} "
        f"image on the tiny test projector (LLaVA's `mlp` type, random weights, 56x56 input) "
        f"over the tiny test model, in one process, {results['threads']} thread; the median "
        f"of {results['runs']} runs (fastest-slowest), each with a new image.",
        "",
        *table(["step", "time"], rows),
        "What a real projector costs follows from its size: its encode is a ViT forward "
        "pass, about 2 x parameters x patches FLOPs. LLaVA 1.5's f16 projector "
        f"({LLAVA_15_PROJECTOR_BYTES / 1e6:.0f} MB, about 0.3 B parameters, "
        f"{LLAVA_15_IMAGE_TOKENS} patches) is about 350 GFLOP an image: seconds on a "
        "laptop CPU, tens of milliseconds on a GPU; its "
        f"{LLAVA_15_IMAGE_TOKENS} image tokens then cost what a {LLAVA_15_IMAGE_TOKENS}-token "
        "prompt costs the text model. With two threads on this loaded 2-core machine both "
        "the encode (0.6-0.75 s) and the text-only first token (0.7 s) took far longer: "
        "llama.cpp's threads spin against the other processes, so one thread is measured.",
    ]


def _ms(figure: Mapping[str, float]) -> str:
    return (
        f"{figure['median_s'] * 1000:.2f} ms "
        f"({figure['min_s'] * 1000:.2f}-{figure['max_s'] * 1000:.2f})"
    )
