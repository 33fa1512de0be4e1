"""A small app with a few of the API's routes, for the security and metrics tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from ladle.settings import SecuritySettings, Settings
from runtime.api.middleware.metrics import install_metrics
from runtime.api.middleware.security import install_security

BASE_URL = "http://127.0.0.1:11434"
"""What the in-process client calls itself: a loopback Host, as the Host check wants."""


def make_settings(host: str = "127.0.0.1", **security: Any) -> Settings:
    return Settings(
        models=Path("/nonexistent/models"), host=host, security=SecuritySettings(**security)
    )


def make_app(settings: Settings | None = None, *, release: asyncio.Event | None = None) -> FastAPI:
    """Dummy routes behind :func:`install_security` and :func:`install_metrics`.

    ``/api/generate`` streams NDJSON; with ``release`` it sends its first line, then
    waits for the event before the last one.
    """
    app = FastAPI()

    @app.get("/api/version")
    async def version() -> dict[str, str]:
        return {"version": "0.0.0"}

    @app.post("/api/generate")
    async def generate(request: Request) -> StreamingResponse:
        prompt = (await request.json()).get("prompt", "")

        async def lines() -> AsyncIterator[bytes]:
            yield json.dumps({"response": prompt[:10], "done": False}).encode() + b"\n"
            if release is not None:
                await release.wait()
            yield json.dumps({"response": "", "done": True}).encode() + b"\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.delete("/api/delete")
    async def delete() -> dict[str, str]:
        return {}

    @app.post("/api/blobs/{digest}", status_code=201)
    async def upload(digest: str, request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.get("/v1/models")
    async def models() -> dict[str, object]:
        return {"object": "list", "data": []}

    install_security(app, settings or make_settings())
    install_metrics(app)
    return app


async def _request(app: FastAPI, method: str, url: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        return await client.request(method, url, **kwargs)


def call(app: FastAPI, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request to ``app`` in process (``httpx.AsyncClient.request``'s arguments)."""
    return asyncio.run(_request(app, method, url, **kwargs))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
