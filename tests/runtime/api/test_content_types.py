"""Every route that takes JSON reads its body as JSON whatever the ``Content-Type`` says,
as Ollama does (:mod:`runtime.api.middleware.json_body`).

Clients send JSON four ways: ``curl -d`` labels it ``application/x-www-form-urlencoded``,
``requests.post(url, data=…)`` and litellm send no content type, a browser's ``fetch``
with a string body ``text/plain``, and the official clients ``application/json``. Each
route's request as docs/api.md shows it (over the tiny model) must get the same status
and the same answer shape all four ways; a body that is not JSON is a 400 that says
why, in each API's error shape. The bodies are sent with httpx's ``content=`` bytes, so
that the headers are exactly the ones named; the last test drives a live server with
the real ``curl``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from runtime.api import admin, ollama, openai
from runtime.api.middleware.json_body import takes_json
from tests.fixtures.installed import missing, require_bundled_model

from .conftest import MakeClient
from .test_live_server import live_server

pytestmark = pytest.mark.anyio

QUESTION = "How do I find the process using port 8080?"
WAYS: dict[str, dict[str, str]] = {
    "curl -d": {"content-type": "application/x-www-form-urlencoded"},
    "no content type": {},
    "fetch": {"content-type": "text/plain;charset=UTF-8"},
    "json": {"content-type": "application/json"},
}
"""The headers each kind of client sends with a JSON body; ``json`` is the reference."""
UNREACHABLE = "127.0.0.1:9/me/tiny"
"""A registry on the discard port, where nothing listens: a push fails at once."""


@dataclass(frozen=True)
class Call:
    """One request, the status it must get, and requests to make first (every way)."""

    method: str
    path: str
    body: dict[str, Any]
    status: int = 200
    before: tuple[tuple[str, dict[str, Any]], ...] = ()
    """``(path, body)`` POSTed first, each way (the copy a delete removes)."""
    bundled: str | None = None
    """A bundled model the request needs (the pull's)."""

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}" + (" stream" if self.body.get("stream") else "")


CALLS = [
    Call("POST", "/api/generate", {"model": "tiny", "prompt": QUESTION, "stream": False}),
    Call("POST", "/api/generate", {"model": "tiny", "prompt": QUESTION, "stream": True}),
    Call("POST", "/api/chat", {"model": "tiny", "messages": [{"role": "user", "content": "Hi"}]}),
    Call("POST", "/api/embed", {"model": "tiny", "input": ["one text", "another"]}),
    Call("POST", "/api/embeddings", {"model": "tiny", "prompt": "one text"}),
    Call("POST", "/api/show", {"model": "tiny"}),
    Call("POST", "/api/copy", {"source": "tiny", "destination": "tiny-copy"}),
    Call(
        "DELETE",
        "/api/delete",
        {"model": "tiny-copy"},
        before=(("/api/copy", {"source": "tiny", "destination": "tiny-copy"}),),
    ),
    Call(
        "POST",
        "/api/create",
        {
            "model": "mine",
            "from": "tiny",
            "system": "You are terse.",
            "parameters": {"temperature": 0.2},
            "stream": False,
        },
    ),
    Call("POST", "/api/pull", {"model": "smollm2:135m", "stream": False}, bundled="smollm2:135m"),
    Call(
        "POST",
        "/api/push",
        {"model": UNREACHABLE, "insecure": True, "stream": False},
        status=502,
        before=(("/api/copy", {"source": "tiny", "destination": UNREACHABLE}),),
    ),
    Call(
        "POST",
        "/v1/chat/completions",
        {"model": "tiny", "messages": [{"role": "user", "content": QUESTION}]},
    ),
    Call(
        "POST",
        "/v1/chat/completions",
        {"model": "tiny", "messages": [{"role": "user", "content": "Hi"}], "stream": True},
    ),
    Call("POST", "/v1/completions", {"model": "tiny", "prompt": QUESTION, "max_tokens": 8}),
    Call("POST", "/v1/embeddings", {"model": "tiny", "input": ["one text", "another"]}),
]


def test_every_route_that_takes_json_is_called() -> None:
    routes = {
        (method, route.path)
        for router in (ollama.router, openai.router, admin.router)
        for route in router.routes
        if isinstance(route, APIRoute) and takes_json(route)
        for method in route.methods or ()
    }
    assert routes == {(call.method, call.path) for call in CALLS}


def answer(response: httpx.Response) -> tuple[int, str, Any]:
    """A response's status, media type and shape: its JSON (NDJSON lines, server-sent
    events) with every value replaced by its type's name."""
    media = response.headers.get("content-type", "").partition(";")[0]
    text = response.text
    if media == "application/x-ndjson":
        payload: Any = [json.loads(line) for line in text.splitlines()]
    elif media == "text/event-stream":
        blocks = [block.removeprefix("data: ") for block in text.split("\n\n") if block]
        payload = [block if block == "[DONE]" else json.loads(block) for block in blocks]
    else:
        payload = json.loads(text) if text else None
    return response.status_code, media, shape(payload)


def shape(value: Any) -> Any:
    """``value``'s structure: objects keep their keys, a list the distinct shapes of its
    items (so that a stream of 7 pieces and one of 8 are alike), a scalar its type."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        distinct = {json.dumps(shape(item), sort_keys=True): shape(item) for item in value}
        return list(distinct.values())
    return type(value).__name__


@pytest.mark.parametrize("call", CALLS, ids=[call.id for call in CALLS])
async def test_every_content_type_gets_the_same_answer(make_client: MakeClient, call: Call) -> None:
    if call.bundled:
        require_bundled_model(call.bundled)
    client = await make_client()
    answers: dict[str, tuple[int, str, Any]] = {}
    for way, headers in WAYS.items():
        for path, body in call.before:
            assert (await client.post(path, json=body)).status_code == 200
        content = json.dumps(call.body).encode()
        response = await client.request(call.method, call.path, content=content, headers=headers)
        assert response.request.headers.get("content-type") == headers.get("content-type")
        assert response.status_code == call.status, (way, response.text)
        answers[way] = answer(response)
    reference = answers["json"]
    assert {way: got for way, got in answers.items() if got != reference} == {}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"model=tiny&prompt=hi", "Expecting value at line 1 column 1"),
        (b'{"model": "tiny",\n "prompt": hi}', "Expecting value at line 2 column 12"),
        (b'{"model": "tiny"', "Expecting ',' delimiter at line 1 column 17"),
        (b"\xff model", "it is not UTF-8 text (invalid start byte at byte 0)"),
    ],
    ids=["form", "bare word", "cut short", "not UTF-8"],
)
@pytest.mark.parametrize("way", list(WAYS))
async def test_a_body_that_is_not_json_is_a_400_that_says_why(
    make_client: MakeClient, way: str, body: bytes, problem: str
) -> None:
    client = await make_client()
    message = f"invalid request: the body is not JSON: {problem}"
    headers = WAYS[way]
    ollamas = await client.post("/api/generate", content=body, headers=headers)
    assert (ollamas.status_code, ollamas.json()) == (400, {"error": message})
    openais = await client.post("/v1/chat/completions", content=body, headers=headers)
    assert openais.status_code == 400
    assert openais.json()["error"]["message"] == message
    assert openais.json()["error"]["type"] == "invalid_request_error"


async def test_an_empty_body_is_missing_whatever_its_content_type(
    make_client: MakeClient,
) -> None:
    client = await make_client()
    for way, headers in WAYS.items():
        response = await client.post("/api/generate", content=b"", headers=headers)
        assert (response.status_code, response.json()) == (
            400,
            {"error": "invalid request: body: Field required"},
        ), way


async def test_blob_uploads_stay_raw_bytes(make_client: MakeClient) -> None:
    client = await make_client()
    data = b"model=this is not JSON, and need not be"
    url = f"/api/blobs/sha256:{hashlib.sha256(data).hexdigest()}"
    for way, headers in WAYS.items():
        stored = await client.post(url, content=data, headers=headers)
        assert stored.status_code == 201, (way, stored.text)
    assert (await client.head(url)).status_code == 200


async def test_other_paths_and_methods_keep_their_own_answers(make_client: MakeClient) -> None:
    client = await make_client()
    headers = WAYS["curl -d"]
    unknown = await client.post("/api/nothing", content=b"not json", headers=headers)
    assert unknown.status_code == 404
    wrong_method = await client.post("/api/tags", content=b"not json", headers=headers)
    assert wrong_method.status_code == 405


def test_curl_as_ollamas_docs_show_it(built_store: Path, tmp_path: Path) -> None:
    curl = shutil.which("curl")
    if curl is None:
        missing("curl", "apt-get install curl, as .ci/run does")

    def run(*args: str) -> tuple[str, int]:
        """curl's output and the HTTP status it got."""
        done = subprocess.run(
            [curl, "-sS", "-w", "\n%{http_code}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        output, _, status = done.stdout.rpartition("\n")
        return output, int(status)

    with live_server(built_store, tmp_path) as server:
        generate = f"{server.url}/api/generate"
        whole, status = run(generate, "-d", '{"model": "tiny", "prompt": "hi", "stream": false}')
        assert status == 200 and json.loads(whole)["done"] is True, whole
        streamed, status = run("-N", generate, "-d", '{"model": "tiny", "prompt": "hi"}')
        pieces = [json.loads(line) for line in streamed.splitlines()]
        assert status == 200 and pieces[-1]["done"] is True, streamed
        chat = '{"model": "tiny", "messages": [{"role": "user", "content": "hi"}]}'
        completion, status = run(f"{server.url}/v1/chat/completions", "-d", chat)
        assert status == 200 and json.loads(completion)["object"] == "chat.completion"
        gone, status = run("-X", "DELETE", f"{server.url}/api/delete", "-d", '{"model": "nope"}')
        assert status == 404 and "not found" in json.loads(gone)["error"]
        refused, status = run(generate, "-d", "model=tiny")
        assert status == 400, refused
        assert json.loads(refused) == {
            "error": "invalid request: the body is not JSON: Expecting value at line 1 column 1"
        }


async def test_a_request_is_counted_under_its_route(make_client: MakeClient) -> None:
    client = await make_client()
    body = json.dumps({"model": "tiny"}).encode()
    shown = await client.post("/api/show", content=body, headers=WAYS["curl -d"])
    assert shown.status_code == 200
    metrics = (await client.get("/metrics")).text.splitlines()
    assert 'ladle_http_requests_total{method="POST",route="/api/show",status="200"} 1.0' in metrics
