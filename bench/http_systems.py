"""The systems of the serving benchmark that are server processes, reached over HTTP:
llama.cpp's ``llama-server``, ``llama_cpp.server`` and ``ladle serve``.

Each is started on a free loopback port (:mod:`bench.servers`) and stopped whatever
happens; its "cold start" is a fresh process of the same command, from its start to the
first token, except ``ladle serve``, which loads a model on its first request and so has
a running-but-unloaded state to start from.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from abc import abstractmethod
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from bench.llama_server import Build
from bench.servers import Server, free_port, started
from bench.stats import Stream
from bench.systems import EOG_BIAS, Setup, System

ROOT = Path(__file__).resolve().parent.parent
KEEP_LOADED = "-1"  # ladle keep_alive: never unload while the benchmark runs


def events(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The JSON objects of a server-sent-events body (``data: {...}`` lines)."""
    for line in lines:
        if line.startswith("data:") and (payload := line[5:].strip()) not in ("", "[DONE]"):
            yield json.loads(payload)


async def _sse(answer: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    async for line in answer.aiter_lines():
        for event in events([line]):
            yield event


CLIENT_LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=0)
"""A new connection per request, to every server alike: llama-server (cpp-httplib) and
uvicorn close a connection idle for 5 s, and a pooled one closed while another system
ran fails the next request ("Server disconnected"). A loopback connect costs ~0.1 ms."""


class HttpSystem(System):
    """A server process this benchmark starts, and an HTTP client to it."""

    ready_path = "/"

    @abstractmethod
    def argv(self, port: int) -> list[str]: ...

    def env(self, port: int) -> dict[str, str]:
        return dict(os.environ)

    async def open(self) -> None:
        self._stack = ExitStack()
        self.server = await asyncio.to_thread(self._start)
        self.http = httpx.AsyncClient(
            base_url=self.server.url,
            timeout=httpx.Timeout(600.0),
            limits=CLIENT_LIMITS,
        )

    def _start(self) -> Server:
        port = free_port()
        server = self._stack.enter_context(started(self.argv(port), port, self.env(port), ROOT))
        server.wait_ready(self.ready_path)
        return server

    async def close(self) -> None:
        try:
            await self.http.aclose()
        finally:
            await asyncio.to_thread(self._stack.close)

    def pid(self) -> int | None:
        return self.server.pid

    async def cold_start(self, prompt: str) -> float:
        """A fresh process of the same command: from its start to the first token (these
        servers load the model at start; they have no "running but unloaded" state)."""
        port = free_port()
        started_at = time.perf_counter()
        with started(self.argv(port), port, self.env(port), ROOT) as server:
            await asyncio.to_thread(server.wait_ready, self.ready_path)
            async with httpx.AsyncClient(
                base_url=server.url, timeout=600.0, limits=CLIENT_LIMITS
            ) as http:
                saved, self.http = self.http, http
                try:
                    first = await self.stream(prompt, 2)
                finally:
                    self.http = saved
        return first.stamps[0] - started_at


class LlamaServer(HttpSystem):
    key, label = "llama_server", "llama.cpp llama-server"
    ready_path = "/health"

    def __init__(self, setup: Setup, build: Build) -> None:
        super().__init__(setup)
        self.build = build

    def argv(self, port: int) -> list[str]:
        s = self.setup
        return [
            str(self.build.binary),
            *("-m", str(s.model), "--host", "127.0.0.1", "--port", str(port)),
            *("-t", str(s.threads), "-tb", str(s.threads)),
            *("-c", str(s.n_ctx * s.parallel), "-np", str(s.parallel), "--cont-batching"),
            *("-ngl", "0", "--no-webui"),
        ]

    def describe(self) -> dict[str, Any]:
        version = subprocess.run(
            [str(self.build.binary), "--version"], capture_output=True, text=True, check=False
        )
        argv = self.argv(0)
        argv[0] = "llama-server"
        return {
            "label": self.label,
            "version": " ".join((version.stdout + version.stderr).split()),
            "command": " ".join(argv).replace("--port 0", "--port PORT"),
            "build": self.build.describe(),
            "notes": "with -c and -np given it starts kv_unified false, n_ctx_slot = -c / -np "
            "(its log), the layout ladle's runner uses; every other option at its default",
            "build_s": round(self.build.build_s, 1),
            "llama_cpp_python_version": self.build.version,
        }

    async def stream(self, prompt: str, n_predict: int) -> Stream:
        body = {
            "prompt": prompt, "n_predict": n_predict, "temperature": 0, "seed": self.setup.seed,
            "repeat_penalty": 1.0, "ignore_eos": True, "cache_prompt": True, "stream": True,
        }  # fmt: skip
        result = Stream(started=time.perf_counter())
        async with self.http.stream("POST", "/completion", json=body) as answer:
            answer.raise_for_status()
            async for event in _sse(answer):
                if event.get("content"):
                    result.stamps.append(time.perf_counter())
                    result.text += event["content"]
                if event.get("stop"):
                    timings = event.get("timings", {})
                    result.tokens = int(timings.get("predicted_n", event.get("tokens_predicted")))
                    result.prompt_eval_s = timings.get("prompt_ms", 0.0) / 1000
                    if "prompt_n" in timings:
                        result.prompt_evaluated = int(timings["prompt_n"])
                    result.finish = "length" if event.get("stop_type") == "limit" else "stop"
        result.finished = time.perf_counter()
        return result


class LlamaCppServer(HttpSystem):
    key, label = "llama_cpp_server", "llama_cpp.server"
    ready_path = "/v1/models"

    @property
    def slots(self) -> int:
        return 1

    def argv(self, port: int) -> list[str]:
        s = self.setup
        return [
            *(sys.executable, "-m", "llama_cpp.server", "--model", str(s.model)),
            *("--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(s.n_ctx)),
            *("--n_threads", str(s.threads), "--n_threads_batch", str(s.threads)),
            *("--n_gpu_layers", "0"),
            *("--interrupt_requests", "False"),  # else a new request cancels the one running
        ]

    def describe(self) -> dict[str, Any]:
        from importlib import metadata

        argv = ["python", *self.argv(0)[1:]]
        return {
            "label": self.label,
            "version": metadata.version("llama-cpp-python"),
            "command": " ".join(argv).replace("--port 0", "--port PORT"),
            "request": f"POST /v1/completions temperature=0 repeat_penalty=1.0 seed="
            f"{self.setup.seed} logit_bias={{EOG: {EOG_BIAS:g}}} stream=true",
        }

    async def stream(self, prompt: str, n_predict: int) -> Stream:
        body = {
            "prompt": prompt, "max_tokens": n_predict, "temperature": 0, "seed": self.setup.seed,
            "repeat_penalty": 1.0, "stream": True,
            "logit_bias": {str(token): EOG_BIAS for token in self.setup.eog_tokens},
        }  # fmt: skip
        result, usage = Stream(started=time.perf_counter()), None
        async with self.http.stream("POST", "/v1/completions", json=body) as answer:
            answer.raise_for_status()
            async for event in _sse(answer):
                usage = (event.get("usage") or {}).get("completion_tokens", usage)
                for choice in event.get("choices") or []:
                    if choice.get("text"):
                        result.stamps.append(time.perf_counter())
                        result.text += choice["text"]
                    result.finish = choice.get("finish_reason") or result.finish
        result.finished = time.perf_counter()
        counted = n_predict if result.finish == "length" else len(result.stamps)
        result.tokens = usage if usage is not None else counted
        return result


class LadleApi(HttpSystem):
    key, label = "ladle_api", "ladle serve (/api/generate)"
    ready_path = "/api/version"
    image = "bench"

    def __init__(self, setup: Setup, store: Path, extra_env: dict[str, str] | None = None):
        super().__init__(setup)
        self.store, self.extra_env = store, extra_env or {}

    def argv(self, port: int) -> list[str]:
        return [sys.executable, "-m", "ladle", "serve"]

    def env(self, port: int) -> dict[str, str]:
        return {
            **os.environ,
            "LADLE_MODELS": str(self.store),
            "LADLE_HOST": f"127.0.0.1:{port}",
            "LADLE_NUM_PARALLEL": str(self.setup.parallel),
            "LADLE_KEEP_ALIVE": KEEP_LOADED,
            **self.extra_env,
        }

    def describe(self) -> dict[str, Any]:
        from importlib import metadata

        s = self.setup
        return {
            "label": self.label,
            "version": metadata.version("ladle"),
            "command": f"LADLE_NUM_PARALLEL={s.parallel} python -m ladle serve; image built "
            f"by `ladle create {self.image}` from `FROM <the GGUF>`",
            "request": f"POST /api/generate raw=true options={json.dumps(self.options(0))}",
        }

    def options(self, n_predict: int) -> dict[str, Any]:
        s = self.setup
        return {
            "temperature": 0, "seed": s.seed, "repeat_penalty": 1.0, "num_predict": n_predict,
            "num_ctx": s.n_ctx, "num_thread": s.threads, "num_gpu": 0, "ignore_eos": True,
        }  # fmt: skip

    async def stream(self, prompt: str, n_predict: int) -> Stream:
        body = {
            "model": self.image, "prompt": prompt, "raw": True, "stream": True,
            "options": self.options(n_predict), "keep_alive": KEEP_LOADED,
        }  # fmt: skip
        result = Stream(started=time.perf_counter())
        async with self.http.stream("POST", "/api/generate", json=body) as answer:
            answer.raise_for_status()
            async for line in answer.aiter_lines():
                if not line.strip():
                    continue
                chunk = json.loads(line)
                if "error" in chunk:
                    raise RuntimeError(f"ladle: {chunk['error']}")
                if chunk.get("response"):
                    result.stamps.append(time.perf_counter())
                    result.text += chunk["response"]
                if chunk.get("done"):
                    result.tokens = chunk.get("eval_count", 0)
                    result.prompt_eval_s = chunk.get("prompt_eval_duration", 0) / 1e9
                    if "prompt_eval_count" in chunk:
                        cached = chunk.get("prompt_cached_count") or 0
                        result.prompt_evaluated = chunk["prompt_eval_count"] - cached
                    result.finish = chunk.get("done_reason", "")
        result.finished = time.perf_counter()
        return result

    async def unload(self) -> None:
        answer = await self.http.post("/api/generate", json={"model": self.image, "keep_alive": 0})
        answer.raise_for_status()
        for _ in range(500):
            models = (await self.http.get("/api/ps")).json().get("models", [])
            if not models:
                return
            await asyncio.sleep(0.02)
        raise RuntimeError("ladle did not unload the model within 10 s")

    async def cold_start(self, prompt: str) -> float:
        """The server running, the model unloaded: request to first token (issue 9's
        definition: ``ladle serve`` loads a model on its first request)."""
        await self.unload()
        first = await self.stream(prompt, 2)
        return first.ttft_s


class LadleApiDefaults(LadleApi):
    """``ladle serve`` as a user starts it: default parallelism (``LADLE_NUM_PARALLEL``
    unset: 4) and the image's context length (no ``num_ctx`` in the request). The cold
    start that issue 9 times is this one; the 16-slot server of the other workloads
    allocates a KV cache of 16 sequences of 4,096 tokens at each load, which alone takes
    about a second."""

    key, label = "ladle_api_defaults", "ladle serve, default settings"

    def env(self, port: int) -> dict[str, str]:
        env = super().env(port)
        del env["LADLE_NUM_PARALLEL"]
        return env

    def options(self, n_predict: int) -> dict[str, Any]:
        options = super().options(n_predict)
        del options["num_ctx"]
        return options

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        described["command"] = "python -m ladle serve (no LADLE_NUM_PARALLEL: 4 sequences)"
        return described


def build_image(model: Path, store: Path, name: str = LadleApi.image) -> None:
    """``ladle create NAME`` from ``FROM <model>`` into ``store`` (the CLI, as a user)."""
    with tempfile.TemporaryDirectory() as folder:
        modelfile = Path(folder) / "Modelfile"
        modelfile.write_text(f"FROM {model}\n")
        done = subprocess.run(
            [sys.executable, "-m", "ladle", "create", name, "-f", str(modelfile)],
            env={**os.environ, "LADLE_MODELS": str(store)},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"ladle create failed: {done.stderr.strip()[-500:]}")
