"""ladle's server next to its peers, SmolLM2-135M-Instruct Q4_1 (issue: runtime speed).

Peers: raw llama-cpp-python (``Llama.create_completion`` in this process) and
llama-cpp-python's own server (``python -m llama_cpp.server``, extra
``llama-cpp-python[server]``, i.e. ``ladle[bench]``). ladle is ``python -m ladle serve``
with an image built from ``FROM <the same GGUF>`` in a temporary store.

Every request: the same prompt, greedy (temperature 0, seed 42), 128 tokens asked for.
Ollama's API has no "ignore EOS", so the prompt asks for a long story and the tokens
actually generated are reported. Rates come from each side's own counters:

* ladle: ``eval_count / eval_duration`` of the final ``/api/generate`` chunk;
* llama_cpp.server: the completion's tokens (``usage.completion_tokens`` where the stream
  carries it, else one per streamed chunk) after the first, over the stream's wall time
  after the first token;
* raw: streamed tokens after the first over the time after the first token.

Aggregates over 8 concurrent streams (httpx, async) are all tokens over the wall time
of the whole batch, and are compared with a single stream measured the same way.
llama_cpp.server runs with ``--interrupt_requests False``: by default each new request
cancels the stream in flight, so 8 concurrent streams would not finish. Servers run one at
a time (the machine has 2 cores); rounds alternate ladle, raw, llama_cpp.server. Each
round starts a fresh ``ladle serve``, whose first request (to the first token, with
``keep_alive``) is the cold start.

Memory: VmRSS of ``ladle serve`` and its runner children (``/proc``), minus the GGUF's
size, and minus the KV cache as computed from SmolLM2's shape (not measured): f16 K and V,
30 layers, 3 KV heads of 64, for 8 sequences of ``num_ctx`` 4096.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.runner_bench import smollm2

THREADS = 2
N_CTX = 4096
N_TOKENS = 128
STREAMS = 8
SEED = 42
KV_BYTES_PER_TOKEN = 30 * 2 * 3 * 64 * 2  # SmolLM2-135M: layers, K and V, KV heads, dim, f16
PROMPT = (
    "<|im_start|>user\nWrite a very long, detailed story about a dragon who learns to "
    "bake bread in a small mountain village. Describe every character, every place and "
    "every day in detail.<|im_end|>\n<|im_start|>assistant\n"
)
ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_up(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


@contextlib.contextmanager
def _server(argv: list[str], env: dict[str, str], url: str) -> Iterator[int]:
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            _wait_up(url, process)
            yield process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# -- memory ----------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                found += _children(int(child))
    return found


def _rss(pid: int) -> int:
    """VmRSS of ``pid`` and all its descendants, bytes."""
    total = 0
    for each in _children(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


class _PeakRss:
    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss(self.pid))
            time.sleep(0.05)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


# -- ladle -------------------------------------------------------------------

LADLE_OPTIONS = {
    "temperature": 0,
    "seed": SEED,
    "num_predict": N_TOKENS,
    "num_ctx": N_CTX,
    "num_thread": THREADS,
}


async def _ladle_stream(
    http: httpx.AsyncClient, prompt: str, options: dict[str, Any] | None = None
) -> dict[str, Any]:
    body = {
        "model": "bench",
        "prompt": prompt,
        "raw": True,
        "options": options or LADLE_OPTIONS,
        "keep_alive": "10m",
    }
    started = time.perf_counter()
    first = 0.0
    async with http.stream("POST", "/api/generate", json=body) as answer:
        answer.raise_for_status()
        async for line in answer.aiter_lines():
            if not line:
                continue
            chunk = json.loads(line)
            if "error" in chunk:
                raise RuntimeError(chunk["error"])
            if not first and chunk.get("response"):
                first = time.perf_counter()
            if chunk.get("done"):
                chunk["ttft_s"] = first - started
                chunk["wall_s"] = time.perf_counter() - started
                return dict(chunk)
    raise RuntimeError("no final chunk")


async def _ladle_round(url: str, pid: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=None) as http:
        cold = await _ladle_stream(http, PROMPT, {**LADLE_OPTIONS, "num_predict": 4})
        idle_rss = _rss(pid)
        single = await _ladle_stream(http, PROMPT)
        with _PeakRss(pid) as peak:
            started = time.perf_counter()
            batch = await asyncio.gather(*(_ladle_stream(http, PROMPT) for _ in range(STREAMS)))
            wall = time.perf_counter() - started
    return {
        "cold_start_s": cold["ttft_s"],
        "cold_load_s": cold.get("load_duration", 0) / 1e9,
        "single_tokens": single["eval_count"],
        "single_tok_s": single["eval_count"] / (single["eval_duration"] / 1e9),
        "single_wall_tok_s": single["eval_count"] / single["wall_s"],
        "concurrent_tokens": sum(each["eval_count"] for each in batch),
        "concurrent_tok_s": sum(each["eval_count"] for each in batch) / wall,
        "idle_rss": idle_rss,
        "load_rss": peak.peak,
    }


async def _ladle_second_turn(url: str) -> dict[str, Any]:
    """A ~1,000-token chat: its second turn's prompt evaluation vs the same prompt cold."""
    async with httpx.AsyncClient(base_url=url, timeout=None) as http:
        options = {**LADLE_OPTIONS, "num_predict": 32}
        messages = [
            {"role": "system", "content": "You are a helpful assistant. " * 150},
            {"role": "user", "content": "Name a fruit."},
        ]
        first = await _ladle_chat(http, messages, options)
        messages += [
            {"role": "assistant", "content": first["message"]["content"]},
            {"role": "user", "content": "And a vegetable?"},
        ]
        warm = await _ladle_chat(http, messages, options)
        await http.post("/api/generate", json={"model": "bench", "keep_alive": 0})
        cold = await _ladle_chat(http, messages, options)
    return {
        "prompt_tokens": cold["prompt_eval_count"],
        "cold_prompt_eval_ms": cold["prompt_eval_duration"] / 1e6,
        "second_turn_prompt_eval_ms": warm["prompt_eval_duration"] / 1e6,
        "second_turn_prompt_eval_count": warm["prompt_eval_count"],
    }


async def _ladle_chat(
    http: httpx.AsyncClient, messages: list[dict[str, str]], options: dict[str, Any]
) -> dict[str, Any]:
    body = {"model": "bench", "messages": messages, "options": options, "stream": False}
    answer = await http.post("/api/chat", json=body)
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


def _ladle_store(model: Path, store: Path, env: dict[str, str]) -> None:
    modelfile = store.parent / "Modelfile"
    modelfile.write_text(f"FROM {model}\n")
    subprocess.run(
        [sys.executable, "-m", "ladle", "create", "bench", "-f", str(modelfile)],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


# -- llama_cpp.server ------------------------------------------------------


async def _llama_stream(http: httpx.AsyncClient) -> dict[str, Any]:
    body = {
        "prompt": PROMPT,
        "max_tokens": N_TOKENS,
        "temperature": 0,
        "seed": SEED,
        "stream": True,
    }
    started = time.perf_counter()
    stamps: list[float] = []
    usage: int | None = None
    async with http.stream("POST", "/v1/completions", json=body) as answer:
        answer.raise_for_status()
        async for line in answer.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                usage = chunk["usage"]["completion_tokens"]
            if chunk["choices"] and chunk["choices"][0].get("text"):
                stamps.append(time.perf_counter())
    tokens = usage if usage is not None else len(stamps)
    after_first = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    wall = time.perf_counter() - started
    return {
        "tokens": tokens,
        "usage_reported": usage is not None,
        "tok_s": (tokens - 1) / after_first if after_first else 0.0,
        "wall_tok_s": tokens / wall,
    }


async def _llama_round(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=None) as http:
        await _llama_stream(http)  # warm-up: the model is loaded at start, caches are not
        single = await _llama_stream(http)
        started = time.perf_counter()
        batch = await asyncio.gather(*(_llama_stream(http) for _ in range(STREAMS)))
        wall = time.perf_counter() - started
    return {
        "single_tokens": single["tokens"],
        "usage_reported": single["usage_reported"],
        "single_tok_s": single["tok_s"],
        "single_wall_tok_s": single["wall_tok_s"],
        "concurrent_tokens": sum(each["tokens"] for each in batch),
        "concurrent_tok_s": sum(each["tokens"] for each in batch) / wall,
    }


# -- raw llama-cpp-python ------------------------------------------------------


def _raw(llm: Any) -> dict[str, Any]:
    stamps = [
        time.perf_counter()
        for _ in llm.create_completion(
            PROMPT, max_tokens=N_TOKENS, temperature=0.0, seed=SEED, stream=True
        )
    ]
    return {"tokens": len(stamps), "tok_s": (len(stamps) - 1) / (stamps[-1] - stamps[0])}


# -- the whole ---------------------------------------------------------------


def _median(rounds: list[dict[str, Any]], key: str, digits: int = 1) -> float:
    return round(float(statistics.median(each[key] for each in rounds)), digits)


def run(quick: bool = False) -> dict[str, Any]:
    """ladle vs raw llama-cpp-python vs llama_cpp.server; medians of the rounds."""
    from llama_cpp import Llama

    model, rounds = smollm2(), 1 if quick else 3
    gguf = model.stat().st_size
    ladle, raw, peer = [], [], []
    with tempfile.TemporaryDirectory(dir=Path.home()) as folder:
        store = Path(folder) / "models"
        port = _free_port()
        env = {
            **os.environ,
            "LADLE_MODELS": str(store),
            "LADLE_HOST": f"127.0.0.1:{port}",
            "LADLE_NUM_PARALLEL": str(STREAMS),
        }
        _ladle_store(model, store, env)
        ladle_url = f"http://127.0.0.1:{port}"
        ladle_argv = [sys.executable, "-m", "ladle", "serve"]
        llama_port = _free_port()
        llama_url = f"http://127.0.0.1:{llama_port}"
        llama_argv = [
            *(sys.executable, "-m", "llama_cpp.server", "--model", str(model)),
            *("--host", "127.0.0.1", "--port", str(llama_port)),
            *("--n_ctx", str(N_CTX), "--n_threads", str(THREADS)),
            *("--interrupt_requests", "False"),  # else a new request cancels the running one
        ]
        for _ in range(rounds):  # A B C, A B C…: drift spreads over all three
            with _server(ladle_argv, env, f"{ladle_url}/api/version") as pid:
                ladle.append(asyncio.run(_ladle_round(ladle_url, pid)))
            llm = Llama(
                str(model), n_ctx=N_CTX, n_threads=THREADS, n_threads_batch=THREADS, verbose=False
            )
            try:
                _raw(llm)  # warm-up, as the servers get one
                raw.append(_raw(llm))
            finally:
                llm.close()
            with _server(llama_argv, dict(os.environ), f"{llama_url}/v1/models"):
                peer.append(asyncio.run(_llama_round(llama_url)))
        with _server(ladle_argv, env, f"{ladle_url}/api/version"):
            second = asyncio.run(_ladle_second_turn(ladle_url))
    ladle_single = _median(ladle, "single_tok_s")
    ladle_single_wall = _median(ladle, "single_wall_tok_s")
    raw_single = _median(raw, "tok_s")
    ladle_8 = _median(ladle, "concurrent_tok_s")
    peer_8 = _median(peer, "concurrent_tok_s")
    mb = 1024 * 1024
    return {
        "model": model.name,
        "gguf_bytes": gguf,
        "threads": THREADS,
        "n_ctx": N_CTX,
        "rounds": rounds,
        "single_stream": {
            "ladle_tok_s": ladle_single,
            "raw_llama_cpp_python_tok_s": raw_single,
            "llama_cpp_server_tok_s": _median(peer, "single_tok_s"),
            "ratio_ladle_vs_raw": round(ladle_single / raw_single, 3),
            "target": 0.95,
            "tokens_generated": {
                "ladle": [each["single_tokens"] for each in ladle],
                "raw": [each["tokens"] for each in raw],
                "llama_cpp_server": [each["single_tokens"] for each in peer],
            },
            "llama_cpp_server_usage_in_stream": peer[0]["usage_reported"],
        },
        "concurrent_8": {
            "ladle_tok_s": ladle_8,
            "llama_cpp_server_tok_s": peer_8,
            "ladle_single_wall_tok_s": ladle_single_wall,
            "llama_cpp_server_single_wall_tok_s": _median(peer, "single_wall_tok_s"),
            "ratio_vs_llama_cpp_server": round(ladle_8 / peer_8, 2),
            "target_vs_llama_cpp_server": 3.0,
            "ratio_vs_ladle_single": round(ladle_8 / ladle_single_wall, 2),
            "target_vs_ladle_single": 1.8,
            "tokens_generated": {
                "ladle": [each["concurrent_tokens"] for each in ladle],
                "llama_cpp_server": [each["concurrent_tokens"] for each in peer],
            },
        },
        "second_turn": {
            **{key: round(value, 1) for key, value in second.items()},
            "ratio": round(second["second_turn_prompt_eval_ms"] / second["cold_prompt_eval_ms"], 3),
            "target": 0.2,
        },
        "cold_start": {
            "request_to_first_token_s": _median(ladle, "cold_start_s", 3),
            "samples_s": [round(each["cold_start_s"], 3) for each in ladle],
            "load_duration_s": _median(ladle, "cold_load_s", 3),
            "target_s": 1.5,
        },
        "ladle_server_rss": {
            "idle_mb": round(statistics.median(each["idle_rss"] for each in ladle) / mb, 1),
            "under_8_streams_peak_mb": round(max(each["load_rss"] for each in ladle) / mb, 1),
            "idle_beyond_gguf_mb": round(
                (statistics.median(each["idle_rss"] for each in ladle) - gguf) / mb, 1
            ),
            "under_load_beyond_gguf_mb": round(
                (max(each["load_rss"] for each in ladle) - gguf) / mb, 1
            ),
            "kv_cache_mb_computed": round(N_CTX * STREAMS * KV_BYTES_PER_TOKEN / mb, 1),
            "target_beyond_weights_and_kv_mb": 200,
        },
        "raw_rounds": {"ladle": ladle, "raw": raw, "llama_cpp_server": peer},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.peers_bench")
    parser.add_argument("--quick", action="store_true")
    print(json.dumps(run(quick=parser.parse_args().quick), indent=2))
