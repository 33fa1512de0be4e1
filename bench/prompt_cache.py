"""Prompt cache benchmark: shared prefixes across chats, and caches that survive a restart.

Both run SmolLM2-135M through a real ``ladle serve`` (``/api/generate``, raw prompts in
SmolLM2's ChatML, greedy, EOS ignored), and read the server's own ``prompt_eval_duration``:
from the request's admission in the runner to its first token, so a cache copied from
another slot or read from disk is paid for in it.

* **Shared prefixes:** 16 chats with the same system prompt of about 2,000 tokens and a
  question each, arriving one after another (each sent when the one before has its first
  token, so earlier chats are still generating). Against: the same 16 chats with a
  number before the system prompt, so that no two share more than their first tokens
  and each is evaluated in full. Target (issue 18): the total prompt evaluation time ≤ 25% of that.
* **Restart:** a chat of about 3,000 tokens, one answer; the server stopped (SIGTERM: its
  runner saves its slots' caches) and started again; the next turn's prompt evaluation
  against the first turn's (cold). Target: ≤ 20%.

The server's ``/api/ps`` hit counters are recorded with each part.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.http_systems import build_image
from bench.prompts import FILLER, QUESTIONS, Tokenizer, chat
from bench.servers import Server, free_port, started
from bench.serving_models import smollm2

IMAGE = "bench"
N_CTX = 4096
PARALLEL = 4
CHATS = {False: 16, True: 4}
SYSTEM_TOKENS = {False: 2000, True: 500}
HISTORY_TOKENS = {False: 3000, True: 800}
ANSWER_TOKENS = 16
SHARED_TARGET = 0.25
RESTART_TARGET = 0.20


def _body(prompt: str, threads: int) -> dict[str, Any]:
    options = {
        "temperature": 0, "seed": 42, "num_predict": ANSWER_TOKENS, "num_ctx": N_CTX,
        "num_thread": threads, "ignore_eos": True,
    }  # fmt: skip
    return {"model": IMAGE, "prompt": prompt, "raw": True, "stream": True, "options": options}


def _stream(
    client: httpx.Client, prompt: str, threads: int, first: threading.Event | None = None
) -> tuple[str, dict[str, Any]]:
    """The whole answer and the last chunk; ``first`` is set at the first text."""
    text, final = "", {}
    with client.stream("POST", "/api/generate", json=_body(prompt, threads)) as answer:
        answer.raise_for_status()
        for line in answer.iter_lines():
            if line.strip():
                final = json.loads(line)
                text += final.get("response", "")
                if text and first is not None:
                    first.set()
    if "error" in final:
        raise RuntimeError(f"ladle: {final['error']}")
    return text, final


def _hits(server: Server) -> dict[str, Any]:
    models = httpx.get(server.url + "/api/ps", timeout=10).json()["models"]
    return dict(models[0].get("prompt_cache", {})) if models else {}


def _chats(system: str, count: int, numbered: bool) -> list[str]:
    head = "Chat {}. " if numbered else ""
    return [
        chat(head.format(i) + system, [QUESTIONS[i % len(QUESTIONS)] + f" (user {i})"])
        for i in range(count)
    ]


def _staggered(server: Server, prompts: list[str], threads: int) -> dict[str, Any]:
    """Send each prompt when the one before has its first token; sums of the last chunks."""
    with (
        httpx.Client(base_url=server.url, timeout=600) as client,
        ThreadPoolExecutor(len(prompts)) as pool,
    ):
        futures = []
        for prompt in prompts:
            first = threading.Event()
            futures.append(pool.submit(_stream, client, prompt, threads, first))
            first.wait(timeout=600)
        finals = [future.result()[1] for future in futures]
    return {
        "prompt_eval_s": sum(f["prompt_eval_duration"] for f in finals) / 1e9,
        "cached_tokens": sum(f.get("prompt_cached_count", 0) for f in finals),
        "prompt_tokens": sum(f["prompt_eval_count"] for f in finals),
    }


@contextmanager
def _serving(store: Path, cache: Path, threads: int) -> Iterator[Server]:
    """``ladle serve`` over ``store``, saving prompt caches in ``cache``, ready; SIGTERM
    at the end (its runners save their caches then)."""
    port = free_port()
    env = {
        **os.environ,
        "LADLE_MODELS": str(store),
        "LADLE_HOST": f"127.0.0.1:{port}",
        "LADLE_NUM_PARALLEL": str(PARALLEL),
        "LADLE_KEEP_ALIVE": "-1",
        "LADLE_CACHE_DIR": str(cache),
    }
    with started([sys.executable, "-m", "ladle", "serve"], port, env) as server:
        server.wait_ready("/api/version")
        yield server


def _shared(store: Path, tokenizer: Tokenizer, quick: bool, threads: int) -> dict[str, Any]:
    system = tokenizer.cut(FILLER * 200, SYSTEM_TOKENS[quick])
    count = CHATS[quick]
    result: dict[str, Any] = {"chats": count, "system_tokens": tokenizer.count(system)}
    for name, numbered in (("full", True), ("shared", False)):
        with _serving(store, store.parent / f"cache-{name}", threads) as server:
            with httpx.Client(base_url=server.url, timeout=600) as client:
                _stream(client, "warm up", threads)  # the load is not part of the figure
            result[name] = _staggered(server, _chats(system, count, numbered), threads)
            result[name]["hits"] = _hits(server)
    result["ratio"] = result["shared"]["prompt_eval_s"] / result["full"]["prompt_eval_s"]
    result["target"] = SHARED_TARGET
    return result


def _restart(store: Path, tokenizer: Tokenizer, quick: bool, threads: int) -> dict[str, Any]:
    history = tokenizer.cut(FILLER * 300, HISTORY_TOKENS[quick])
    first = chat("You are a helpful assistant.", [history])
    cache = store.parent / "cache-restart"
    with (
        _serving(store, cache, threads) as server,
        httpx.Client(base_url=server.url, timeout=600) as client,
    ):
        answer, cold = _stream(client, first, threads)
    # The block's end stopped the server (SIGTERM): its runner saved its caches.
    saved = sum(path.stat().st_size for path in cache.rglob("*") if path.is_file())
    turn = first + answer + "<|im_end|>\n<|im_start|>user\nAnd then?<|im_end|>\n"
    with _serving(store, cache, threads) as server:
        with httpx.Client(base_url=server.url, timeout=600) as client:
            _, warm = _stream(client, turn + "<|im_start|>assistant\n", threads)
        hits = _hits(server)
    return {
        "history_tokens": cold["prompt_eval_count"],
        "cold_prompt_eval_s": cold["prompt_eval_duration"] / 1e9,
        "warm_prompt_eval_s": warm["prompt_eval_duration"] / 1e9,
        "warm_prompt_tokens": warm["prompt_eval_count"],
        "warm_cached_tokens": warm.get("prompt_cached_count", 0),
        "saved_bytes": saved,
        "hits": hits,
        "ratio": warm["prompt_eval_duration"] / cold["prompt_eval_duration"],
        "target": RESTART_TARGET,
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Both parts, each with servers of its own over one store."""
    threads = 1  # llama.cpp's threads spin: on a loaded machine more threads wait longer
    model = smollm2()
    tokenizer = Tokenizer(model)
    try:
        with tempfile.TemporaryDirectory(prefix="ladle-prompt-cache-") as folder:
            store = Path(folder) / "models"
            build_image(model, store, IMAGE)
            shared = _shared(store, tokenizer, quick, threads)
            restart = _restart(store, tokenizer, quick, threads)
    finally:
        tokenizer.close()
    return {"model": "SmolLM2-135M", "threads": threads, "shared": shared, "restart": restart}


def main() -> None:
    """``python -m bench.prompt_cache [--quick] [--report]``: print the results; with
    ``--report``, save them under bench/results and write their section into
    docs/BENCHMARKS.md (:func:`bench.prompt_cache_report.write_block`)."""
    quick = "--quick" in sys.argv
    results = {"prompt_cache": run(quick=quick), "load_average": os.getloadavg()}
    print(json.dumps(results, indent=2))
    if "--report" in sys.argv:
        from bench.prompt_cache_report import write_block

        write_block(results)


if __name__ == "__main__":
    main()
