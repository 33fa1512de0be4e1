"""Issue 18's section of the report and its targets, from a made-up ``kv_cache`` result."""

from __future__ import annotations

from typing import Any

from bench.report_kv import section
from bench.targets import evaluate


def _type(bytes_per_token: float, perplexity: float, tps: float) -> dict[str, Any]:
    return {
        "bytes_per_token": bytes_per_token, "state_bytes_per_token": bytes_per_token + 12,
        "perplexity": perplexity, "decode_tps": tps, "flash_attention": True,
    }  # fmt: skip


def _results() -> dict[str, Any]:
    prompt_eval = {
        "prompt_tokens": {"4000": 4000, "8000": 8000},
        "ladle": {"prompt_eval": {"4000": {"tps": 990.0, "runs_s": [4.0, 4.04, 4.1]}}},
        "llama_server": {"prompt_eval": {"4000": {"tps": 1000.0, "runs_s": [3.9, 4.0, 4.2]}}},
    }
    smollm2 = {
        "name": "SmolLM2",
        "types": {
            "f16": _type(23_040, 10.0, 100.0),
            "q8_0": _type(12_240, 10.05, 90.0),
            "q4_0": _type(7_200, 10.6, 95.0),
        },
        "prompt_eval": prompt_eval,
    }
    settings = {"ppl_ctx": 512, "ppl_chunks": 12, "decode_tokens": 128, "threads": 2}
    return {"kv_cache": {"models": {"smollm2": smollm2}, "settings": settings}}


def test_the_section_shows_each_type_against_f16() -> None:
    text = "\n".join(section(_results()))
    assert "| `q8_0` | 12,240 B (53.1%; target ≤ 55%: met) | 12,252 B |" in text
    assert "10.050 (+0.50%; target ≤ 1%: met)" in text
    assert "| `q4_0` | 7,200 B (31.2%; target ≤ 30%: not met)" in text
    assert "| 4,000 | 990 | 1,000 | 0.99x (met) |" in text


def test_the_targets_read_the_same_figures() -> None:
    judged = {o.target.figure: o for o in evaluate(_results()) if o.target.issue == 18}
    assert judged["SmolLM2: KV bytes a token, `q8_0` of `f16`"].status == "met"
    assert judged["SmolLM2: KV bytes a token, `q4_0` of `f16`"].status == "not met"
    assert judged["SmolLM2: `q8_0` perplexity vs `f16`"].status == "met"
    assert judged["SmolLM2: prompt eval of 4000 tokens vs llama-server"].status == "met"
    assert judged["SmolLM2: prompt eval of 8000 tokens vs llama-server"].status == "not measured"
    assert judged["Gemma 3: `q8_0` perplexity vs `f16`"].status == "not measured"


def test_a_run_without_the_module_says_so() -> None:
    assert "Not measured in this run" in "\n".join(section({}))
