"""The report's section on KV cache types (issue 18), from :mod:`bench.kv_cache`'s figures.

Two tables per model: each cache type's bytes a token, perplexity and decode speed with
the ratio to ``f16`` and the issue's target beside it; then prompt evaluation of the long
prompts, ``ladle serve`` against ``llama-server``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.markdown import notes, table
from bench.report_areas import _heading

Results = Mapping[str, Any]

BYTES_TARGETS = {"q8_0": 0.55, "q4_0": 0.30}
"""Issue 18: KV bytes a token at most this share of f16's."""
PERPLEXITY_TARGET = {"q8_0": 0.01}
"""Issue 18: q8_0's perplexity within 1% of f16's."""
PROMPT_EVAL_TARGET = 0.95
"""Issue 18: prompt evaluation at least 0.95x llama-server's."""


def section(results: Results) -> list[str]:
    """``## KV cache types``: every model's tables, or why there are none."""
    lines, present = _heading(results, "KV cache types", "kv_cache")
    if not present:
        return lines
    kv = results["kv_cache"]
    settings = kv.get("settings", {})
    lines += [
        f"Perplexity over {settings.get('ppl_chunks')} chunks of {settings.get('ppl_ctx')} "
        f"tokens of `{settings.get('text')}`, decode of {settings.get('decode_tokens')} "
        f"tokens, {settings.get('threads')} threads, flash attention "
        f"`{settings.get('flash_attention')}`.",
        "",
    ]
    for model in kv.get("models", {}).values():
        lines += [f"### {model['name']}", ""]
        lines += _types_table(model["types"])
        lines += _prompt_eval_table(model.get("prompt_eval", {}))
    return [*lines, *notes("kv_cache")]


def _types_table(types: Mapping[str, Any]) -> list[str]:
    f16 = types["f16"]
    rows = [_type_row(kind, figures, f16) for kind, figures in types.items()]
    header = ["cache", "KV bytes a token (of f16)", "state a token", "perplexity (vs f16)"]
    header += ["decode tok/s (vs f16)", "flash attention"]
    return [*table(header, rows, "lrrrrl"), ""]


def _type_row(kind: str, figures: Mapping[str, Any], f16: Mapping[str, Any]) -> list[str]:
    share = figures["bytes_per_token"] / f16["bytes_per_token"]
    drift = figures["perplexity"] / f16["perplexity"] - 1
    speed = figures["decode_tps"] / f16["decode_tps"]
    bytes_goal = _goal(share, BYTES_TARGETS.get(kind), "≤")
    quality_goal = _goal(abs(drift), PERPLEXITY_TARGET.get(kind), "≤")
    return [
        f"`{kind}`",
        f"{figures['bytes_per_token']:,.0f} B ({share:.1%}{bytes_goal})",
        f"{figures['state_bytes_per_token']:,.0f} B",
        f"{figures['perplexity']:.3f} ({drift:+.2%}{quality_goal})",
        f"{figures['decode_tps']:,.1f} ({speed:.2f}x)",
        {True: "on", False: "off", None: "?"}[figures.get("flash_attention")],
    ]


def _goal(value: float, target: float | None, sign: str) -> str:
    if target is None:
        return ""
    met = value <= target
    return f"; target {sign} {target:.0%}: {'met' if met else 'not met'}"


def _prompt_eval_table(prompt_eval: Mapping[str, Any]) -> list[str]:
    ladle, server = prompt_eval.get("ladle", {}), prompt_eval.get("llama_server", {})
    if "prompt_eval" not in ladle:
        return [f"Prompt evaluation not measured: {ladle.get('skipped', 'no figures')}.", ""]
    rows = []
    for size, figures in ladle["prompt_eval"].items():
        peer = server.get("prompt_eval", {}).get(size)
        tokens = prompt_eval.get("prompt_tokens", {}).get(size, size)
        if peer is None:
            rows.append([f"{tokens:,}", f"{figures['tps']:,.0f}", "—", "—"])
            continue
        ratio = figures["tps"] / peer["tps"]
        met = "met" if ratio >= PROMPT_EVAL_TARGET else "not met"
        rows.append(
            [
                f"{tokens:,}",
                f"{figures['tps']:,.0f}",
                f"{peer['tps']:,.0f}",
                f"{ratio:.2f}x ({met})",
            ]
        )
    header = [
        "prompt tokens",
        "ladle tok/s",
        "llama-server tok/s",
        "ladle / llama-server (≥ 0.95x)",
    ]
    lines = ["Prompt evaluation, `ladle serve` against `llama-server` (median tok/s):", ""]
    lines += table(header, rows, "rrrr")
    if "skipped" in server:
        lines += ["", f"llama-server: {server['skipped']}"]
    return [*lines, ""]
