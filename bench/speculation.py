"""Speculative decoding benchmark (issue 19): single-stream tokens/s on SmolLM2-135M.

For each workload of :mod:`bench.speculation_workloads` (rewrite a file, summary, free
chat), greedy with ``ignore_eos`` so every system generates the same number of tokens:

- ladle's engine (the runner's :class:`~runtime.runner.engine.Engine`, in this process:
  the decode loop without the pipe, which a single stream barely notices) without
  speculation, with n-gram lookup (``spec_ngram`` :data:`SPEC_NGRAM`) and with a draft
  model (:func:`bench.speculation_models.draft_model`), both choosing ``k`` adaptively;
- llama.cpp's ``llama-server`` (built by :mod:`bench.llama_server`) without speculation,
  with ``--spec-type ngram-simple`` and with the same draft (``-md``), its defaults
  otherwise.

Tokens/s is the generation's own (``eval_count / eval_duration``; llama-server's
``timings.predicted_per_second``): prompt evaluation is left out. ladle's three modes must
give the same tokens (``identical``). Then :func:`bench.speculation_models.verify_costs`
measures what a decode of ``1 + k`` tokens costs against one token, per model file type,
on this machine: the figure that decides whether verifying ``k`` proposals can pay.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.servers import free_port, started
from bench.speculation_models import draft_model, llama_log, target_model, verify_costs
from bench.speculation_workloads import Workload, workloads

SPEC_NGRAM = 4
"""ladle's n-gram length for the n-gram mode (up to 4 tokens matched)."""
N_CTX = 8192
"""SmolLM2's trained context: room for the 300-line file and the answer."""
MODES = ("off", "ngram", "draft")
FLASH_ATTENTION = "off"
"""Every system, every mode: on this CPU, flash attention makes SmolLM2-135M (head size
64) decode 2.3x slower at a 3,000-token context (llama.cpp's CPU kernel reads the whole
cache once per query token, so a verify batch of 9 costs 7.6 one-token steps with it and
3.6 without); Gemma 3 (head size 256) is the other way round. Chosen per model with
``PARAMETER flash_attention``; see bench/notes/speculation.md."""


def threads() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def run(quick: bool = False) -> dict[str, Any]:
    """The benchmark's results (``bench/__main__.py`` saves them)."""
    target = target_model()
    draft = draft_model()
    runs = 1 if quick else 3
    loads = workloads(quick)
    result: dict[str, Any] = {
        "model": target.name,
        "draft": f"{draft.name}: the same model requantized to Q4_0 (shares its vocabulary)",
        "threads": threads(),
        "runs": runs,
        "flash_attention": FLASH_ATTENTION,
        "load_average": os.getloadavg()[0],
        "ladle": _part(ladle_runs, target, draft, loads, runs),
        "llama_server": _part(llama_server_runs, target, draft, loads, runs),
        "verify_cost": _part(verify_costs, quick),
    }
    result["load_average_after"] = os.getloadavg()[0]
    return result


def _part(measure: Any, *args: Any) -> Any:
    """One part's figures, or its error: a failing part must not lose the others'."""
    try:
        return measure(*args)
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"}


# -- ladle ----------------------------------------------------------------------


def ladle_runs(target: Path, draft: Path, loads: list[Workload], runs: int) -> dict[str, Any]:
    """Per workload and mode: tokens/s (median of ``runs``), proposals, acceptance."""
    from runtime.protocol import LoadSpec
    from runtime.runner.native import LlamaModel

    log = llama_log()
    spec = LoadSpec(
        model_path=target,
        n_ctx=N_CTX,
        n_threads=threads(),
        num_parallel=1,
        flash_attention=FLASH_ATTENTION,
    )
    model = LlamaModel(spec, log)
    drafter = LlamaModel(spec.model_copy(update={"model_path": draft}), log)
    out: dict[str, Any] = {}
    try:
        for load in loads:
            out[load.key] = _ladle_workload(model, drafter, load, runs)
    finally:
        model.close()
        drafter.close()
    return out


def _ladle_workload(model: Any, drafter: Any, load: Workload, runs: int) -> dict[str, Any]:
    """The modes take turns run by run (off, n-gram, draft, off, ...), so that a drift in
    the machine's speed lands on every mode alike instead of on whichever ran last."""
    from runtime.runner.engine import Engine

    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    finals: dict[str, Any] = {}
    for _ in range(runs):
        for mode in MODES:
            for seq_id in range(model.spec.num_parallel):
                model.forget(seq_id)  # every run evaluates its prompt afresh
                drafter.forget(seq_id)
            engine = Engine(model, drafter if mode == "draft" else None)
            final = _ladle_once(engine, load, spec_ngram=SPEC_NGRAM if mode == "ngram" else 0)
            rates[mode].append(final.eval_count / (final.eval_duration_ns / 1e9))
            finals[mode] = final
    figures: dict[str, Any] = {
        mode: {
            "tps": statistics.median(rates[mode]),
            "tps_runs": rates[mode],
            "drafted": finals[mode].draft_count,
            "accepted": finals[mode].draft_accepted_count,
        }
        for mode in MODES
    }
    figures["identical"] = finals["ngram"].tokens == finals["off"].tokens == finals["draft"].tokens
    return figures


def _ladle_once(engine: Any, load: Workload, spec_ngram: int) -> Any:
    from runtime.protocol import GenerateRequest, SamplingOptions

    request = GenerateRequest(
        prompt=load.prompt,
        sampling=SamplingOptions(temperature=0, repeat_penalty=1.0),
        num_predict=load.n_predict,
        ignore_eos=True,
        return_tokens=True,
        spec_ngram=spec_ngram,
    )
    engine.submit(0, request)
    while engine.busy:
        for event in engine.step():
            chunk = getattr(event, "chunk", None)
            if chunk is not None and chunk.done:
                return chunk
    raise RuntimeError("the engine ended without a final chunk")


# -- llama-server -----------------------------------------------------------------


def llama_server_runs(target: Path, draft: Path, loads: list[Workload], runs: int) -> Any:
    """Per workload and mode, llama-server's figures (or why it could not run)."""
    from bench.llama_server import BuildError, build

    try:
        binary = build().binary
    except BuildError as error:
        return {"skipped": f"llama-server could not be built: {error}"}
    flags = {
        "off": [],
        "ngram": ["--spec-type", "ngram-simple"],
        "draft": ["-md", str(draft)],
    }
    timings: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with ExitStack() as servers:  # all three up at once (idle ones take no CPU)
        urls = {mode: servers.enter_context(_llama_server(binary, target, extra))
                for mode, extra in flags.items()}  # fmt: skip
        for _ in range(runs):  # the modes take turns, as ladle's do
            for load in loads:
                for mode, url in urls.items():
                    timings.setdefault((load.key, mode), []).append(_llama_server_once(url, load))
    out: dict[str, Any] = {load.key: {} for load in loads}
    for (key, mode), each in timings.items():
        rates = [float(t.get("predicted_per_second", 0.0)) for t in each]
        out[key][mode] = {
            "tps": statistics.median(rates),
            "tps_runs": rates,
            "drafted": int(each[-1].get("draft_n", 0)),
            "accepted": int(each[-1].get("draft_n_accepted", 0)),
        }
    return out


@contextmanager
def _llama_server(binary: Path, model: Path, extra: list[str]) -> Iterator[str]:
    port = free_port()
    argv = [
        str(binary),
        *("-m", str(model), "--host", "127.0.0.1", "--port", str(port)),
        *("-t", str(threads()), "-tb", str(threads()), "-c", str(N_CTX), "-np", "1"),
        *("-ngl", "0", "-fa", FLASH_ATTENTION, "--no-webui", *extra),
    ]
    with started(argv, port) as server:
        server.wait_ready("/health")
        yield server.url


def _llama_server_once(url: str, load: Workload) -> dict[str, Any]:
    """One generation's ``timings``."""
    body = {
        "prompt": load.prompt, "n_predict": load.n_predict, "temperature": 0,
        "repeat_penalty": 1.0, "ignore_eos": True, "cache_prompt": False,
    }  # fmt: skip
    answer = httpx.post(f"{url}/completion", json=body, timeout=600).json()
    timings: dict[str, Any] = answer.get("timings", {})
    return timings
