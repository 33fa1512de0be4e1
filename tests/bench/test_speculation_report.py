"""The report's speculative decoding section, from a made-up results object."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.speculation_report import section


def figures(off: float, ngram: float, draft: float) -> dict[str, Any]:
    return {
        "off": {"tps": off, "drafted": 0, "accepted": 0},
        "ngram": {"tps": ngram, "drafted": 100, "accepted": 80},
        "draft": {"tps": draft, "drafted": 10, "accepted": 9},
    }


RESULTS: dict[str, Any] = {
    "speculation": {
        "model": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "draft": "SmolLM2-135M-Instruct.Q4_0.gguf",
        "threads": 2,
        "runs": 2,
        "load_average": 1.5,
        "load_average_after": 2.0,
        "ladle": {
            "rewrite": {**figures(50.0, 90.0, 49.0), "identical": True},
            "chat": {**figures(50.0, 50.0, 48.0), "identical": False},
        },
        "llama_server": {"rewrite": figures(55.0, 80.0, 40.0)},
        "verify_cost": {"Q4_1": {"one_token_s": 0.02, "ratio": {"1": 1.0, "2": 1.5, "9": 4.4}}},
    }
}


def test_the_section_has_speeds_acceptance_identity_chart_and_costs() -> None:
    text = "\n".join(section(RESULTS))
    assert text.startswith("## Speculative decoding")
    assert "| (a) rewrite a file | ladle n-gram | 90.0 | 1.80x | 80/100 (80%) |" in text
    assert "| (a) rewrite a file | llama-server n-gram | 80.0 | 1.45x | 80/100 (80%) |" in text
    assert "| (a) rewrite a file | ladle greedy output identical | yes |" in text
    assert "| (c) free chat | ladle greedy output identical | NO |" in text
    assert "  ladle n-gram         " + "█" * 40 + " 90.0" in text  # the fastest: a full bar
    assert "| Q4_1 | 20.0 | 1.50x | 4.40x |" in text


def test_a_run_without_the_benchmark_has_no_section_and_a_failed_one_says_why() -> None:
    assert section({}) == []
    failed = section({"speculation": {"error": "RuntimeError: boom"}})
    assert "Not measured in this run: RuntimeError: boom." in failed


def test_verify_costs_are_measured_for_each_batch_size(tiny_model: Path) -> None:
    from bench.speculation_models import VERIFY_SIZES, _costs

    costs = _costs(tiny_model, repeats=1, n_gpu_layers=0)
    assert costs["one_token_s"] > 0
    assert sorted(int(n) for n in costs["ratio"]) == list(VERIFY_SIZES)
    assert costs["ratio"]["1"] == 1.0
