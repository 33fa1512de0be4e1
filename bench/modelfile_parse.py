"""Parsing speed of a 1 MB Modelfile: thousands of PARAMETER and MESSAGE lines and a
100 KB TEMPLATE. Target (issue 2): well under one second to parse."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import modelfile

TARGET_BYTES = 1_000_000
WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dogs",
    "while",
    "site",
    "reliability",
    "engineers",
    "sleep",
]


def big_modelfile(target: int = TARGET_BYTES, seed: int = 0) -> str:
    """A valid Modelfile of about ``target`` bytes (a tenth of it one TEMPLATE), the same
    for the same seed."""
    rng = random.Random(seed)
    template_bytes = target // 10
    template_line = "{{ if .System }}<|system|>{{ .System }}<|end|>{{ end }}\n"
    template = (template_line * (template_bytes // len(template_line) + 1))[:template_bytes]
    parts = ["# benchmark Modelfile\nFROM smollm2:135m\n", f'TEMPLATE """{template}"""\n']
    size = sum(map(len, parts))
    roles = ("user", "assistant")
    index = 0
    while size < target:
        if index % 3 == 0:
            line = f"PARAMETER stop <|stop-{index}|>\n"
        else:
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 30)))
            line = f"MESSAGE {roles[index % 2]} {text}\n"
        parts.append(line)
        size += len(line)
        index += 1
    return "".join(parts)


def _time(action: Callable[[], object], repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return samples


def run(quick: bool = False) -> dict[str, Any]:
    """Median and spread of parse, validate and format times on the big Modelfile."""
    text = big_modelfile(TARGET_BYTES // 10 if quick else TARGET_BYTES)
    repeats = 3 if quick else 7
    modelfile.parse("FROM warm-up\n")  # build the grammar once, outside the timing
    parsed = modelfile.parse(text)
    figures: dict[str, Any] = {
        "bytes": len(text.encode()),
        "lines": text.count("\n"),
        "instructions": len(parsed.instructions),
    }
    for name, action in (
        ("parse", lambda: modelfile.parse(text)),
        ("validate", parsed.validate),
        ("format", lambda: modelfile.format(parsed)),
    ):
        samples = _time(action, repeats)
        figures[name] = {
            "median_s": statistics.median(samples),
            "min_s": min(samples),
            "max_s": max(samples),
            "runs": repeats,
        }
    return figures
