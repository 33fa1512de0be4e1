"""The vision section of the benchmark report (:mod:`bench.vision_bench`).

``python -m bench.vision_bench --report`` measures, saves its figures in
``bench/results/vision-<date>.json`` and writes its section into docs/BENCHMARKS.md
between two markers (replaced when it is there, appended otherwise), as the soak does
(:mod:`bench.soak_report`); without ``--report`` it prints the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.markdown import table

REPORT = Path(__file__).parents[1] / "docs" / "BENCHMARKS.md"
RESULTS = Path(__file__).parent / "results"
BEGIN = "<!-- vision: written by `python -m bench.vision_bench --report`; do not edit -->"
END = "<!-- /vision -->"

LLAVA_15_PROJECTOR_BYTES = 624_000_000
"""LLaVA 1.5's f16 projector (CLIP ViT-L/14 at 336 px and a 2-layer MLP), for scale."""
LLAVA_15_IMAGE_TOKENS = 576


def main(run: Callable[[bool], dict[str, Any]]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.vision_bench")
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument("--report", action="store_true", help="write docs/BENCHMARKS.md")
    args = parser.parse_args()
    results = run(args.quick)
    results["machine"] = {"host": platform.node(), "cpus": os.cpu_count()}
    results["date"] = time.strftime("%Y-%m-%d", time.gmtime())
    if not args.report:
        print(json.dumps(results, indent=2))
        return 0
    RESULTS.mkdir(exist_ok=True)
    source = RESULTS / f"vision-{results['date']}.json"
    source.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    write_section(REPORT, results, source)
    return 0


def write_section(report: Path, results: Mapping[str, Any], source: Path) -> None:
    """Put the vision section into ``report`` (replacing the one there)."""
    text = report.read_text(encoding="utf-8") if report.exists() else ""
    start, end = text.find(BEGIN), text.find(END)
    section = "\n".join([BEGIN, *section_lines(results, source, report), END])
    if start >= 0 and end > start:
        text = text[:start] + section + text[end + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    report.write_text(text, encoding="utf-8")


def _ms(figure: Mapping[str, float]) -> str:
    return (
        f"{figure['median_s'] * 1000:.2f} ms "
        f"({figure['min_s'] * 1000:.2f}-{figure['max_s'] * 1000:.2f})"
    )


def section_lines(results: Mapping[str, Any], source: Path, report: Path) -> list[str]:
    """The section: what ran where, then one row per step."""
    runner, decode = results["runner"], results["decode"]
    side, link = results["image_side"], os.path.relpath(source, report.parent)
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
        f"`python -m bench.vision_bench --report` on `{results['machine']['host']}` "
        f"({results['machine']['cpus']} CPUs, load average {results['load_average']:.1f} while "
        f"it ran), {results['date']}; results: [`{source.name}`]({link}). One {side}x{side} "
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
