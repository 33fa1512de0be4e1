"""An :class:`Engine` in this process, stepped by hand (to watch slots and caches)."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import llama_cpp as llama

from runtime.protocol import GenerateChunk, GenerateRequest, LoadSpec, SamplingOptions
from runtime.runner.engine import Engine
from runtime.runner.messages import ChunkGenerated, RequestFailed
from runtime.runner.native import LlamaLog, LlamaModel

GREEDY = SamplingOptions(temperature=0)
MAX_STEPS = 4096
_SILENT_LOG = llama.llama_log_callback(lambda _level, _text, _data: None)


def greedy(prompt: list[int], num_predict: int) -> GenerateRequest:
    """A greedy completion of token ids that never stops early."""
    return GenerateRequest(
        prompt=tuple(prompt), sampling=GREEDY, num_predict=num_predict, ignore_eos=True
    )


@contextmanager
def loaded(model_path: Path, **fields: Any) -> Iterator[LlamaModel]:
    """A model loaded here, freed at the end."""
    fields.setdefault("n_ctx", 256)
    fields.setdefault("n_threads", 2)
    log = LlamaLog()  # llama.cpp calls it until the process ends: keep it alive
    model = LlamaModel(LoadSpec(model_path=model_path, **fields), log)
    try:
        yield model
    finally:
        model.close()
        llama.llama_log_set(_SILENT_LOG, ctypes.c_void_p(0))


class Outputs:
    """The text and final chunk of every job an engine ran, by job id."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.text: dict[int, str] = {}
        self.final: dict[int, GenerateChunk] = {}

    def step(self) -> None:
        for event in self.engine.step():
            assert not isinstance(event, RequestFailed), event
            if isinstance(event, ChunkGenerated):
                self.text[event.id] = self.text.get(event.id, "") + event.chunk.text
                if event.chunk.done:
                    self.final[event.id] = event.chunk

    def until_done(self, job_id: int) -> tuple[str, GenerateChunk]:
        for _ in range(MAX_STEPS):
            if job_id in self.final:
                return self.text[job_id], self.final[job_id]
            self.step()
        raise AssertionError(f"job {job_id} never ended")

    def run(self, job_id: int, request: GenerateRequest) -> tuple[str, GenerateChunk]:
        self.engine.submit(job_id, request)
        return self.until_done(job_id)
