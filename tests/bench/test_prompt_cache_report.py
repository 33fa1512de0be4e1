"""The report's prompt cache section (:mod:`bench.prompt_cache_report`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.prompt_cache_report import section

RESULTS: dict[str, Any] = {
    "prompt_cache": {
        "model": "SmolLM2-135M",
        "threads": 2,
        "shared": {
            "chats": 16,
            "system_tokens": 2001,
            "full": {"prompt_eval_s": 40.0, "hits": {}},
            "shared": {
                "prompt_eval_s": 6.0,
                "hits": {"memory": 2, "shared": 13, "disk": 0, "tokens_saved": 30000},
            },
            "ratio": 0.15,
            "target": 0.25,
        },
        "restart": {
            "history_tokens": 3000,
            "cold_prompt_eval_s": 5.0,
            "warm_prompt_eval_s": 1.5,
            "warm_prompt_tokens": 3050,
            "warm_cached_tokens": 3020,
            "saved_bytes": 70 * 2**20,
            "ratio": 0.3,
            "target": 0.2,
        },
    }
}


def test_the_section_gives_each_figure_against_its_target() -> None:
    text = "\n".join(section(RESULTS))
    assert "16 chats, a 2,001-token system prompt" in text
    assert "15% (target ≤ 25%: met)" in text
    assert "2 memory, 13 shared, 0 disk; 30,000 tokens saved" in text
    assert "3,020 of 3,050 tokens from disk" in text
    assert "30% (target ≤ 20%: missed)" in text
    assert "70.0 MiB" in text


def test_a_module_that_failed_says_why() -> None:
    lines = section({"prompt_cache": {"error": "RuntimeError: boom"}})
    assert "Not measured in this run: RuntimeError: boom." in lines


def test_the_targets_read_the_shares_in_percent() -> None:
    from bench.prompt_cache_report import restart_share, shared_prefix_share

    assert shared_prefix_share(RESULTS).value == 15.0
    assert restart_share(RESULTS).value == 30.0


def test_the_block_in_the_benchmarks_page_is_replaced_not_repeated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bench.prompt_cache_report as report

    monkeypatch.setattr(report, "REPO", tmp_path)
    (tmp_path / "bench" / "results").mkdir(parents=True)
    docs = tmp_path / "BENCHMARKS.md"
    docs.write_text("# Benchmarks\n\nother sections\n", encoding="utf-8")
    results = {**RESULTS, "load_average": (9.5, 9.0, 8.7)}
    report.write_block(results, docs)
    saved = report.write_block(results, docs)
    text = docs.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks\n\nother sections\n\n<!-- prompt_cache: ")
    assert text.count("## Prompt caches") == 1 and text.endswith("<!-- /prompt_cache -->\n")
    assert "load average 9.5, 9.0, 8.7" in text
    assert saved.is_file()
