"""The report's checkpoint-conversion section (bench/report_convert.py)."""

from __future__ import annotations

from bench.figures import DASH, TIMES
from bench.report_convert import TITLE, section
from bench.stats import summary

SHARD = 538_092_760
RESULTS = {
    "convert": {
        "folder_bytes": SHARD,
        "largest_shard_bytes": SHARD,
        "gguf_bytes": 539_845_408,
        "convert": summary([7.2, 7.8]),
        "peak_rss_bytes": summary([209_022_976, 209_055_744]),
        "baseline_rss_bytes": summary([51_965_952, 51_945_472]),
        "cached": summary([2.04]),
        "runs": 2,
    }
}


def test_the_section_shows_the_figures_and_the_target() -> None:
    text = "\n".join(section(RESULTS))
    assert text.startswith(f"## {TITLE}")
    assert "one F32 safetensors file of 538 MB" in text
    assert f"| convert to GGUF (wall) | 7.50 s (7.20{DASH}7.80, 2 runs) |" in text
    assert f"| peak RSS of the converting process | 209 MB (209{DASH}209, 2 runs) |" in text
    assert f"it is 0.39{TIMES} the shard: **met**." in text


def test_results_without_the_module_have_no_section_and_a_failure_says_why() -> None:
    assert section({}) == []
    failed = section({"convert": {"error": "RuntimeError: boom"}})
    assert failed[-2] == "Not measured in this run: RuntimeError: boom."
