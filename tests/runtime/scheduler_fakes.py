"""A fake runner and the helpers the scheduler tests share: images in a temp store, a
clock the tests move, and a runner factory that records what it loads and closes."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.gguf.file import GGUFInfo
from builder.store import media_types
from builder.store.manifest import Descriptor, Manifest, digest_of
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.errors import LadleError
from ladle.settings import Settings
from runtime.protocol import (
    EmbedResult,
    GenerateChunk,
    GenerateRequest,
    LoadSpec,
    RunnerHandle,
    RunnerInfo,
)
from runtime.scheduler import Scheduler

CHUNKS = ("Hello", ",", " world")
GGUF_STRING, GGML_F32, GGUF_ALIGNMENT = 8, 0, 32


def fake_gguf(label: bytes) -> bytes:
    """The smallest GGUF that :func:`builder.gguf.file.inspect_gguf` takes for a model:
    a llama header named ``label`` over one f32 tensor. The fake runner never loads it;
    the scheduler's image cache reads its header, as the server does every model's."""

    def text(value: str) -> bytes:
        data = value.encode()
        return struct.pack("<Q", len(data)) + data

    header = b"GGUF" + struct.pack("<IQQ", 3, 1, 2)
    header += text("general.architecture") + struct.pack("<I", GGUF_STRING) + text("llama")
    name = label.decode("utf-8", "backslashreplace")
    header += text("general.name") + struct.pack("<I", GGUF_STRING) + text(name)
    header += text("output_norm.weight") + struct.pack("<IQIQ", 1, 1, GGML_F32, 0)
    padding = -len(header) % GGUF_ALIGNMENT
    return header + bytes(padding) + struct.pack("<f", 1.0)


def put_image(
    store: Store,
    name: str,
    *,
    weights: bytes = b"weights",
    params: dict[str, Any] | None = None,
    adapters: tuple[bytes, ...] = (),
) -> str:
    """Tag ``name`` with a small image whose weights are :func:`fake_gguf` of ``weights``."""

    def layer(media_type: str, data: bytes) -> Descriptor:
        return Descriptor(media_type=media_type, digest=store.put_bytes(data), size=len(data))

    layers = [layer(media_types.MODEL, fake_gguf(weights))]
    layers += [layer(media_types.ADAPTER, adapter) for adapter in adapters]
    if params:
        layers.append(layer(media_types.PARAMS, json.dumps(params).encode()))
    config = layer(media_types.CONFIG, b'{"model_format":"gguf"}')
    return store.put_manifest(ModelName.parse(name), Manifest(config=config, layers=tuple(layers)))


class FakeClock:
    """The scheduler's clock, moved by the tests."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeRunner:
    """A :class:`RunnerHandle` that streams a few chunks and records its close."""

    def __init__(self, spec: LoadSpec, factory: FakeFactory) -> None:
        self.spec = spec
        self.factory = factory
        self.closed = False
        self.died = False
        self.generating = 0
        self.close_error: LadleError | None = None

    @property
    def info(self) -> RunnerInfo:
        return RunnerInfo(
            pid=4242,
            load=self.spec,
            load_duration_ns=1,
            n_ctx_train=8192,
            gpu_layers=0,
            total_layers=4,
            size_bytes=self.factory.size,
            vram_bytes=self.factory.vram,
        )

    @property
    def alive(self) -> bool:
        return not (self.closed or self.died)

    async def generate(self, request: GenerateRequest) -> AsyncIterator[GenerateChunk]:
        self.generating += 1
        try:
            for text in CHUNKS:
                await asyncio.sleep(0)
                if self.closed:
                    yield GenerateChunk(done=True, done_reason="cancelled")
                    return
                yield GenerateChunk(text=text)
            yield GenerateChunk(done=True, done_reason="stop", eval_count=len(CHUNKS))
        finally:
            self.generating -= 1

    async def embed(self, texts: list[str], truncate: bool = True) -> EmbedResult:
        return EmbedResult(vectors=[[1.0, 0.0] for _ in texts], prompt_eval_count=len(texts))

    async def tokenize(self, text: str, special: bool = True) -> list[int]:
        return [ord(char) for char in text]

    async def detokenize(self, tokens: list[int]) -> str:
        return "".join(map(chr, tokens))

    async def close(self, error: LadleError | None = None) -> None:
        self.factory.events.append(f"close {self.factory.label(self.spec)}")
        self.close_error = error
        await asyncio.sleep(self.factory.close_delay)
        self.closed = True


@dataclass
class FakeFactory:
    """``start_runner`` for the tests: records loads, may wait, fail, or be held."""

    delay: float = 0.0
    close_delay: float = 0.0
    failure: BaseException | None = None
    gate: asyncio.Event | None = None
    size: int = 1000
    vram: int = 0
    runners: list[FakeRunner] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    labels: dict[Path, str] = field(default_factory=dict)
    ggufs: list[GGUFInfo | None] = field(default_factory=list)
    """The header each load was handed (``None``: the fake weights are no GGUF)."""
    loading: int = 0
    most_loading: int = 0

    async def __call__(
        self, spec: LoadSpec, /, *, model_name: str, gguf: GGUFInfo | None = None
    ) -> RunnerHandle:
        assert model_name.endswith(":latest")
        self.ggufs.append(gguf)
        self.events.append(f"load {self.label(spec)}")
        self.loading += 1
        self.most_loading = max(self.most_loading, self.loading)
        try:
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(self.delay)
            if self.failure is not None:
                raise self.failure
        finally:
            self.loading -= 1
        runner = FakeRunner(spec, self)
        self.runners.append(runner)
        return runner

    def label(self, spec: LoadSpec) -> str:
        """The name a test gave the weights of ``spec`` (for readable event lists)."""
        return self.labels.get(spec.model_path, spec.model_path.name)

    @property
    def loads(self) -> list[LoadSpec]:
        return [runner.spec for runner in self.runners]

    def open_runners(self) -> list[FakeRunner]:
        return [runner for runner in self.runners if not runner.closed]


@dataclass
class Bench:
    """A scheduler over a temp store, with a fake runner factory and a fake clock."""

    store: Store
    factory: FakeFactory
    clock: FakeClock
    scheduler: Scheduler

    def put(self, name: str, weights: bytes | None = None, **kwargs: Any) -> str:
        """Tag ``name`` with a small image; events name it by ``name`` (weights default to
        the name's bytes, so every name has its own)."""
        data = name.encode() if weights is None else weights
        self.factory.labels[self.store.blob_path(digest_of(fake_gguf(data)))] = name
        return put_image(self.store, name, weights=data, **kwargs)


def make_bench(root: Path, factory: FakeFactory | None = None, **settings: Any) -> Bench:
    store = Store(root / "models")
    factory = factory or FakeFactory()
    clock = FakeClock()
    scheduler = Scheduler(store, Settings(models=store.root, **settings), factory, clock=clock)
    return Bench(store, factory, clock, scheduler)


async def eventually(condition: Callable[[], bool], what: str = "condition") -> None:
    """Let the event loop run until ``condition`` holds (a second at most)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"{what} never became true")


async def hold(
    scheduler: Scheduler,
    name: str,
    release: asyncio.Event,
    entered: asyncio.Event | None = None,
    **kwargs: Any,
) -> str:
    """Run one request that stays in flight until ``release`` is set; returns its text.

    The name is resolved at once, on the loop (as no server would), so that requests are
    admitted in the order the test starts them."""
    model = scheduler.images.resolve(ModelName.parse(name))
    async with scheduler.use(model, **kwargs) as loaded:
        if entered is not None:
            entered.set()
        await release.wait()
        chunks = [
            chunk.text async for chunk in loaded.handle.generate(GenerateRequest(prompt="hi"))
        ]
        return "".join(chunks)
