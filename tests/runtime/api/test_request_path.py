"""One request's way through the server, counted: the name is resolved once, the image
read and the GGUF header inspected once per load (prompt, memory plan and ``/api/show``
share them), and none of that, nor the render, runs on the event loop."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from builder.gguf.file import GGUFInfo
from builder.prompt import PromptSource
from builder.store.image import Image
from builder.store.store import Store, StoredImage
from runtime import images, placement
from runtime.hardware import CPUInfo, Hardware, LlamaBuild, MemoryInfo
from runtime.placement import PlannedRunnerFactory

from .conftest import MakeClient
from .test_behaviour import Script, scripted

pytestmark = pytest.mark.anyio

GB = 10**9
CHAT = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "stream": False}


def _hardware() -> Hardware:
    return Hardware(
        platform="Linux x86_64",
        cpu=CPUInfo(model="test", physical_cores=2, logical_cores=2),
        memory=MemoryInfo(total=8 * GB, available=8 * GB),
        accelerators=(),
        llama=LlamaBuild(gpu_offload=False),
    )


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> tuple[Counter[str], set[int]]:
    """Counts of manifest reads, image reads, header inspections and renders, and the
    threads they ran in."""
    counts: Counter[str] = Counter()
    threads: set[int] = set()

    def note(what: str) -> None:
        counts[what] += 1
        threads.add(threading.get_ident())

    get, read, render = Store.get, Image.read, PromptSource.render

    def counted_get(store: Store, name: Any) -> StoredImage:
        note("manifest")
        return get(store, name)

    def counted_read(cls: type[Image], store: Store, stored: StoredImage) -> Image:
        note("image")
        return read(store, stored)

    def counted_render(source: PromptSource, *args: Any, **kwargs: Any) -> str:
        note("render")
        return render(source, *args, **kwargs)

    def counted_inspect(path: Path, *, display_name: str | None = None) -> GGUFInfo:
        note("header")
        return inspect(path, display_name=display_name)

    inspect = images.inspect_gguf
    monkeypatch.setattr(Store, "get", counted_get)
    monkeypatch.setattr(Image, "read", classmethod(counted_read))
    monkeypatch.setattr(PromptSource, "render", counted_render)
    monkeypatch.setattr(images, "inspect_gguf", counted_inspect)
    monkeypatch.setattr(placement, "inspect_gguf", counted_inspect)
    return counts, threads


async def test_a_chat_resolves_its_name_once_and_reads_the_header_once_per_load(
    make_client: MakeClient, reads: tuple[Counter[str], set[int]]
) -> None:
    counts, threads = reads
    factory = PlannedRunnerFactory(hardware=_hardware, start=scripted(Script()))  # type: ignore[arg-type]
    client = await make_client(runner_factory=factory)

    assert (await client.post("/api/chat", json=CHAT)).status_code == 200
    assert counts == {"manifest": 1, "image": 1, "header": 1, "render": 1}

    assert (await client.post("/api/chat", json=CHAT)).status_code == 200
    assert counts == {"manifest": 2, "image": 1, "header": 1, "render": 2}

    shown = await client.post("/api/show", json={"model": "tiny"})
    assert shown.status_code == 200 and shown.json()["model_info"]["general.architecture"]
    assert counts == {"manifest": 3, "image": 1, "header": 1, "render": 2}

    assert threading.get_ident() not in threads, "the event loop read the store or rendered"


async def test_a_request_for_a_deleted_tag_unloads_its_runner(make_client: MakeClient) -> None:
    script = Script()
    client = await make_client(runner_factory=scripted(script))
    assert (await client.post("/api/chat", json=CHAT)).status_code == 200
    assert [model["name"] for model in (await client.get("/api/ps")).json()["models"]] == [
        "tiny:latest"
    ]
    assert (await client.request("DELETE", "/api/delete", json={"model": "tiny"})).is_success
    assert (await client.post("/api/chat", json=CHAT)).status_code == 404
    assert (await client.get("/api/ps")).json()["models"] == []
