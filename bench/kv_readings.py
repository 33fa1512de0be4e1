"""Issue 18's targets read out of :mod:`bench.kv_cache`'s figures: KV bytes a token and
perplexity of a quantized cache against ``f16``, prompt evaluation against
``llama-server`` (the rows are in :data:`bench.targets.TARGETS`)."""

from __future__ import annotations

from collections.abc import Callable

from bench.figures import Stat, dig, number
from bench.readings import Reading, Results, Side

MODELS = {"smollm2": "SmolLM2", "gemma3": "Gemma 3"}


def kv_bytes_share(model: str, kind: str) -> Callable[[Results], Reading]:
    """``kind``'s KV bytes a token, as a percentage of ``f16``'s, on ``model``."""

    def read(results: Results) -> Reading:
        types = ("kv_cache", "models", model, "types")
        quantized = number(results, *types, kind, "bytes_per_token")
        f16 = number(results, *types, "f16", "bytes_per_token")
        return Reading(
            Side(kind, Stat.single(quantized), "B"),
            100 * quantized / f16,
            Side("f16", Stat.single(f16), "B"),
        )

    return read


def perplexity_drift(model: str, kind: str) -> Callable[[Results], Reading]:
    """How far ``kind``'s perplexity is from ``f16``'s, in percent, on ``model``."""

    def read(results: Results) -> Reading:
        types = ("kv_cache", "models", model, "types")
        quantized = number(results, *types, kind, "perplexity")
        f16 = number(results, *types, "f16", "perplexity")
        return Reading(
            Side(kind, Stat.single(quantized), ""),
            100 * abs(quantized / f16 - 1),
            Side("f16", Stat.single(f16), ""),
        )

    return read


def prompt_eval(model: str, size: str) -> Callable[[Results], Reading]:
    """``ladle serve``'s prompt tokens a second over ``llama-server``'s, ``size`` tokens."""

    def read(results: Results) -> Reading:
        both = dig(results, "kv_cache", "models", model, "prompt_eval")
        ladle = _rate(both, "ladle", size)
        server = _rate(both, "llama_server", size)
        return Reading(
            Side("ladle serve", ladle, "tok/s"),
            ladle.median / server.median,
            Side("llama-server", server, "tok/s"),
        )

    return read


def _rate(both: Results, key: str, size: str) -> Stat:
    figures = dig(both, key, "prompt_eval", size)
    tokens = number(both, "prompt_tokens", size)
    runs = [tokens / seconds for seconds in figures["runs_s"]]
    return Stat(float(figures["tps"]), min(runs), max(runs), len(runs))
