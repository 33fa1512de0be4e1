"""A deterministic stand-in for :class:`runtime.client.LadleClient`: it answers the
chat's requests from memory and records them, so the app's flows (and its snapshots)
run without a server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ladle.errors import ServerError, ServerUnreachableError

Json = dict[str, Any]
FINAL: Json = {
    "done": True,
    "done_reason": "stop",
    "prompt_eval_count": 30,
    "eval_count": 50,
    "eval_duration": 500_000_000,
}
MODELS: list[Json] = [
    {
        "name": "tiny:latest",
        "size": 1_234_567,
        "details": {"family": "llama", "quantization_level": "F32"},
    },
    {
        "name": "sre-bot:latest",
        "size": 98_000_000,
        "details": {"family": "llama", "quantization_level": "Q4_1"},
    },
]
SHOW: Json = {
    "modelfile": "FROM tiny\nPARAMETER num_ctx 256\nSYSTEM You are tiny.\n",
    "parameters": 'num_ctx                        256\nstop                           "</s>"',
    "template": "{% for m in messages %}{{ m.content }}{% endfor %}",
    "system": "You are tiny.",
    "license": "MIT",
    "details": {"family": "llama", "parameter_size": "1M", "quantization_level": "F32"},
    "model_info": {"general.architecture": "llama", "llama.context_length": 2048},
    "capabilities": ["completion"],
}


class FakeClient:
    """Streams ``words`` one piece at a time, ``delay`` seconds apart.

    ``down`` makes every request fail as an unreachable server would; ``busy`` is how
    many chat requests answer 503 before one is served; ``unknown`` are model names the
    server does not have (404)."""

    def __init__(self, words: Sequence[str] = ("Hello", " **world**"), delay: float = 0.0):
        self.words, self.delay = list(words), delay
        self.calls: list[tuple[str, list[Json], Json | None]] = []
        self.formats: list[str | None] = []
        self.thinks: list[bool | str | None] = []
        self.thoughts: list[str] = []
        """Thinking pieces streamed before the words (a reasoning model's)."""
        self.loads: list[str] = []
        self.creates: list[tuple[str, Json]] = []
        self.closed = threading.Event()
        self.down = False
        self.busy = 0
        self.busy_retry_after: float | None = None
        self.unknown: set[str] = {"nope"}

    def chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        format: str | Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        think: bool | str | None = None,
    ) -> Iterator[Json]:
        self.calls.append((model, [dict(m) for m in messages], dict(options or {}) or None))
        self.formats.append(None if format is None else str(format))
        self.thinks.append(think)
        return self._pieces(model)

    def _pieces(self, model: str) -> Iterator[Json]:
        self._check(model)
        if self.busy:
            self.busy -= 1
            message = "the server is busy: 4 requests are waiting"
            raise ServerError(503, message, self.busy_retry_after)
        try:
            for thought in self.thoughts:
                yield {"message": {"role": "assistant", "content": "", "thinking": thought}}
            for word in self.words:
                if self.delay:
                    time.sleep(self.delay)
                yield {"message": {"role": "assistant", "content": word}, "done": False}
            yield FINAL
        finally:
            self.closed.set()

    def _check(self, model: str) -> None:
        if self.down:
            raise ServerUnreachableError("http://127.0.0.1:1")
        if model.split(":")[0] in self.unknown:
            raise ServerError(404, f"model '{model}' not found")

    def generate(
        self, model: str, prompt: str, *, options: Mapping[str, Any] | None = None
    ) -> Iterator[Json]:
        self._check(model)
        self.loads.append(model)
        yield {"done": True, "done_reason": "load"}

    def ps(self) -> list[Json]:
        tagged = [name if ":" in name else f"{name}:latest" for name in self.loads[-1:]]
        return [{"name": name, "context_length": 256} for name in tagged]

    def tags(self) -> list[Json]:
        if self.down:
            raise ServerUnreachableError("http://127.0.0.1:1")
        return MODELS

    def show(self, model: str) -> Json:
        self._check(model)
        return SHOW

    def create(self, model: str, request: Mapping[str, Any]) -> Iterator[Json]:
        self.creates.append((model, dict(request)))
        self._check(str(request.get("from")))
        yield {"status": "using existing layer sha256:0123"}
        yield {"status": "writing manifest"}
        yield {"status": "success"}
