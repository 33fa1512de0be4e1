"""The systems the serving benchmark measures, behind one small interface; here the two
that run without a server of their own (raw llama-cpp-python in this process, and ladle's
runner), the servers in :mod:`bench.http_systems`.

Each system loads the same GGUF with the same threads and per-sequence context, and every
request asks for the same thing: greedy decoding (temperature 0, seed 42, repeat penalty
1.0, which is not every system's default), exactly ``n_predict`` tokens with end-of-
generation tokens ruled out. How each side is told to ignore EOS:

* ``llama-server``: its ``ignore_eos`` (a -inf logit bias on every EOG token);
* ``ladle serve``: the ``ignore_eos`` request option, and the runner's own
  ``GenerateRequest.ignore_eos`` (both the same -inf bias inside ladle's sampler chain);
* raw llama-cpp-python and ``llama_cpp.server``: neither has the option, so each EOG
  token gets a logit bias of -1e9 (``logit_bias``), which greedy decoding can never pick;
  llama-cpp-python applies it in a Python logits processor, a cost the option would not
  have, paid per token (negligible beside a decode step, but theirs).

Concurrency: the servers run ``parallel`` slots (``llama_cpp.server`` has one, and takes
requests one at a time); raw llama-cpp-python has no server, so concurrent requests run
one after another through a lock, as a single-threaded server would run them.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.stats import Stream

EOG_BIAS = -1e9
"""The logit bias that rules out an EOG token where a system has no "ignore EOS"."""


@dataclass(frozen=True)
class Setup:
    """What every system is given: the model and the settings they must share."""

    model: Path
    threads: int
    n_ctx: int  # per sequence
    parallel: int  # sequences (slots) for the servers that batch
    seed: int
    eog_tokens: tuple[int, ...]


class System(ABC):
    """One way of serving the model; open it, stream through it, close it."""

    key: str
    label: str

    def __init__(self, setup: Setup) -> None:
        self.setup = setup

    @property
    def slots(self) -> int:
        """Sequences the system keeps a KV cache for (its context is ``slots * n_ctx``)."""
        return self.setup.parallel

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """The "systems" entry: label, version, exact command."""

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def stream(self, prompt: str, n_predict: int) -> Stream:
        """One request, greedy, ``n_predict`` tokens with EOS ignored."""

    @abstractmethod
    async def cold_start(self, prompt: str) -> float:
        """Seconds to the first token with nothing loaded (each system's definition is in
        :data:`bench.serving.COLD_START`)."""

    def pid(self) -> int | None:
        """The process whose tree's RSS is the system's memory (None: in this process)."""
        return None


# -- raw llama-cpp-python ------------------------------------------------------------


class Raw(System):
    key, label = "raw", "llama-cpp-python (in-process)"

    @property
    def slots(self) -> int:
        return 1

    def describe(self) -> dict[str, Any]:
        from importlib import metadata

        s = self.setup
        return {
            "label": self.label,
            "version": metadata.version("llama-cpp-python"),
            "command": f"Llama({s.model.name!r}, n_ctx={s.n_ctx}, n_threads={s.threads}, "
            f"n_threads_batch={s.threads}).create_completion(prompt, max_tokens=N, "
            f"temperature=0, repeat_penalty=1.0, seed={s.seed}, "
            f"logit_bias={{EOG: {EOG_BIAS:g}}}, stream=True)",
            "concurrency": "sequential: requests wait for the one before (no batch API)",
        }

    def _load(self) -> Any:
        from llama_cpp import Llama

        s = self.setup
        return Llama(
            str(s.model), n_ctx=s.n_ctx, n_threads=s.threads, n_threads_batch=s.threads,
            seed=s.seed, verbose=False,
        )  # fmt: skip

    async def open(self) -> None:
        self._llm = await asyncio.to_thread(self._load)
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        self._llm.close()

    async def stream(self, prompt: str, n_predict: int) -> Stream:
        started = time.perf_counter()  # before the lock: waiting in the queue counts
        async with self._lock:
            return await asyncio.to_thread(self._generate, self._llm, prompt, n_predict, started)

    def _generate(self, llm: Any, prompt: str, n_predict: int, started: float) -> Stream:
        import llama_cpp

        llama_cpp.llama_perf_context_reset(llm._ctx.ctx)
        result = Stream(started=started)
        for chunk in llm.create_completion(
            prompt, max_tokens=n_predict, temperature=0.0, repeat_penalty=1.0,
            seed=self.setup.seed, logit_bias=dict.fromkeys(self.setup.eog_tokens, EOG_BIAS),
            stream=True,
        ):  # fmt: skip
            choice = chunk["choices"][0]
            if choice["text"]:
                result.stamps.append(time.perf_counter())
                result.text += choice["text"]
            result.finish = choice["finish_reason"] or result.finish
        result.finished = time.perf_counter()
        perf = llama_cpp.llama_perf_context(llm._ctx.ctx)
        result.prompt_eval_s = perf.t_p_eval_ms / 1000
        result.tokens = n_predict if result.finish == "length" else len(result.stamps)
        return result

    async def cold_start(self, prompt: str) -> float:
        def first_token() -> float:
            started = time.perf_counter()
            llm = self._load()
            try:
                for _chunk in llm.create_completion(prompt, max_tokens=2, temperature=0.0,
                                                    stream=True):  # fmt: skip
                    return time.perf_counter() - started
            finally:
                llm.close()
            raise RuntimeError("raw llama-cpp-python streamed nothing")

        return await asyncio.to_thread(first_token)


# -- ladle's runner, without HTTP ------------------------------------------------------


class LadleRunner(System):
    key, label = "ladle_runner", "ladle runner (no HTTP)"

    def _spec(self) -> Any:
        from runtime.protocol import LoadSpec

        s = self.setup
        return LoadSpec(
            model_path=s.model, n_ctx=s.n_ctx, n_threads=s.threads, num_parallel=s.parallel,
            n_gpu_layers=0,
        )  # fmt: skip

    def describe(self) -> dict[str, Any]:
        s = self.setup
        return {
            "label": self.label,
            "command": f"start_runner(LoadSpec(n_ctx={s.n_ctx}, n_threads={s.threads}, "
            f"num_parallel={s.parallel})).generate(GenerateRequest(temperature=0, "
            f"seed={s.seed}, repeat_penalty=1.0, num_predict=N, ignore_eos=True))",
        }

    async def open(self) -> None:
        from runtime.runner import start_runner

        self._runner = await start_runner(self._spec())

    async def close(self) -> None:
        await self._runner.close()

    def pid(self) -> int | None:
        return self._runner.info.pid

    def _request(self, prompt: str, n_predict: int) -> Any:
        from runtime.protocol import GenerateRequest, SamplingOptions

        sampling = SamplingOptions(temperature=0, seed=self.setup.seed, repeat_penalty=1.0)
        return GenerateRequest(
            prompt=prompt, sampling=sampling, num_predict=n_predict, ignore_eos=True
        )

    async def stream(self, prompt: str, n_predict: int) -> Stream:
        result = Stream(started=time.perf_counter())
        async for chunk in self._runner.generate(self._request(prompt, n_predict)):
            if chunk.text:
                result.stamps.append(time.perf_counter())
                result.text += chunk.text
            if chunk.done:
                result.tokens = chunk.eval_count
                result.prompt_eval_s = chunk.prompt_eval_duration_ns / 1e9
                result.finish = chunk.done_reason or ""
        result.finished = time.perf_counter()
        return result

    async def cold_start(self, prompt: str) -> float:
        from runtime.runner import start_runner

        started = time.perf_counter()
        runner = await start_runner(self._spec())
        try:
            async for _chunk in runner.generate(self._request(prompt, 2)):
                return time.perf_counter() - started
        finally:
            await runner.close()
        raise RuntimeError("the runner streamed nothing")
