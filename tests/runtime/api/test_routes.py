"""Ollama's routes over the tiny model, in process: fields, NDJSON streaming, load and
unload, the store routes, and errors with their status codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import MakeClient

pytestmark = pytest.mark.anyio

COUNTERS = (
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)


def lines(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


async def test_generate_answers_with_ollama_fields(make_client: MakeClient) -> None:
    client = await make_client()
    response = await client.post(
        "/api/generate", json={"model": "tiny", "prompt": "hello world", "stream": False}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "tiny"
    assert body["done"] is True and body["done_reason"] == "length"
    assert isinstance(body["response"], str) and body["response"]
    assert body["eval_count"] == 8  # the image's num_predict
    assert all(body[name] > 0 for name in COUNTERS)
    assert body["created_at"].endswith("Z")


async def test_generate_streams_ndjson_ending_with_the_counters(make_client: MakeClient) -> None:
    client = await make_client()
    request = {"model": "tiny", "prompt": "hello", "options": {"num_predict": 5}}
    response = await client.post("/api/generate", json=request)
    assert response.status_code == 200
    pieces = lines(response)
    assert all(piece["done"] is False for piece in pieces[:-1])
    assert len(pieces) >= 2
    final = pieces[-1]
    assert final["done"] is True and final["eval_count"] == 5
    assert all(name in final for name in COUNTERS)


async def test_chat_streams_and_gathers_the_same_text(make_client: MakeClient) -> None:
    client = await make_client()
    request = {"model": "tiny", "messages": [{"role": "user", "content": "hello"}]}
    streamed = lines(await client.post("/api/chat", json=request))
    whole = (await client.post("/api/chat", json={**request, "stream": False})).json()
    text = "".join(piece["message"]["content"] for piece in streamed)
    assert whole["message"] == {"role": "assistant", "content": text}  # temperature 0
    assert streamed[-1]["done"] and streamed[-1]["done_reason"] == "length"


async def test_raw_and_a_template_override_change_the_prompt(make_client: MakeClient) -> None:
    client = await make_client()

    async def prompt_tokens(**fields: Any) -> int:
        body = {"model": "tiny", "prompt": "hello", "stream": False, **fields}
        response = await client.post("/api/generate", json=body)
        assert response.status_code == 200, response.text
        count: int = response.json()["prompt_eval_count"]
        return count

    templated = await prompt_tokens()
    raw = await prompt_tokens(raw=True)
    overridden = await prompt_tokens(template="{{ .Prompt }}", system="")
    assert raw < templated  # the template adds the SYSTEM and the role markers
    assert overridden == raw


async def test_an_empty_prompt_loads_and_keep_alive_0_unloads(make_client: MakeClient) -> None:
    client = await make_client()
    loaded = await client.post("/api/generate", json={"model": "tiny"})
    assert lines(loaded)[-1]["done_reason"] == "load"
    ps = (await client.get("/api/ps")).json()["models"]
    assert [model["name"] for model in ps] == ["tiny:latest"]
    assert ps[0]["context_length"] == 256 and ps[0]["size"] > 0
    unload = {"model": "tiny", "keep_alive": 0, "stream": False}
    unloaded = (await client.post("/api/generate", json=unload)).json()
    assert unloaded["done_reason"] == "unload"
    assert (await client.get("/api/ps")).json() == {"models": []}


async def test_format_json_constrains_the_answer(make_client: MakeClient) -> None:
    client = await make_client()
    request = {
        "model": "tiny",
        "prompt": "hello",
        "format": {"type": "object", "properties": {"a": {"type": "integer"}}},
        "options": {"num_predict": 40},
        "stream": False,
    }
    response = await client.post("/api/generate", json=request)
    assert response.status_code == 200, response.text
    assert response.json()["response"].lstrip().startswith("{")


async def test_embed_and_the_older_embeddings(make_client: MakeClient) -> None:
    client = await make_client()
    body = (
        await client.post("/api/embed", json={"model": "tiny", "input": ["hello", "world"]})
    ).json()
    assert len(body["embeddings"]) == 2
    assert abs(sum(x * x for x in body["embeddings"][0]) - 1) < 1e-3
    assert body["prompt_eval_count"] > 0
    cut = (
        await client.post("/api/embed", json={"model": "tiny", "input": "hi", "dimensions": 4})
    ).json()
    assert len(cut["embeddings"][0]) == 4
    old = (await client.post("/api/embeddings", json={"model": "tiny", "prompt": "hi"})).json()
    assert len(old["embedding"]) == len(body["embeddings"][0])


async def test_show_verbose_answers_the_arrays_whole(make_client: MakeClient) -> None:
    """Ollama's rule: an array of more than five items is ``[]`` unless ``verbose``;
    the tensor table comes either way."""
    client = await make_client()
    brief = (await client.post("/api/show", json={"model": "tiny"})).json()
    full = (await client.post("/api/show", json={"model": "tiny", "verbose": True})).json()
    tokens = full["model_info"]["tokenizer.ggml.tokens"]
    assert brief["model_info"]["tokenizer.ggml.tokens"] == [] and len(tokens) > 5
    assert len(tokens) == len(set(tokens)) and all(isinstance(t, str) for t in tokens)
    assert len(full["model_info"]["tokenizer.ggml.token_type"]) == len(tokens)
    assert brief["tensors"] == full["tensors"]
    assert full["tensors"][0] == {"name": "token_embd.weight", "type": "F16", "shape": [64, 384]}
    assert brief["model_info"]["general.architecture"] == "llama"


async def test_tags_show_copy_delete(make_client: MakeClient) -> None:
    client = await make_client()
    names = [model["name"] for model in (await client.get("/api/tags")).json()["models"]]
    assert sorted(names) == ["tiny-tools:latest", "tiny:latest"]
    shown = (await client.post("/api/show", json={"model": "tiny"})).json()
    assert shown["details"]["family"] == "llama"
    assert shown["model_info"]["general.architecture"] == "llama"
    assert "num_ctx" in shown["parameters"] and shown["system"] == "You are tiny."
    assert shown["capabilities"] == ["completion"]
    tools = (await client.post("/api/show", json={"model": "tiny-tools"})).json()
    assert "tools" in tools["capabilities"]
    copied = await client.post("/api/copy", json={"source": "tiny", "destination": "tiny:copy"})
    assert copied.status_code == 200
    deleted = await client.request("DELETE", "/api/delete", json={"model": "tiny:copy"})
    assert deleted.status_code == 200
    again = await client.request("DELETE", "/api/delete", json={"model": "tiny:copy"})
    assert again.status_code == 404


async def test_version(make_client: MakeClient) -> None:
    client = await make_client()
    assert (await client.get("/api/version")).json()["version"]


GEN = "/api/generate"
HELLO = {"model": "tiny", "prompt": "x"}
USER = [{"role": "user", "content": "x"}]


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        (GEN, {"model": "nope", "prompt": "x"}, 404, "'nope:latest' not found"),
        ("/api/chat", {"model": "nope", "messages": []}, 404, "not found"),
        ("/api/show", {"model": "nope"}, 404, "not found"),
        ("/api/copy", {"source": "nope", "destination": "x"}, 404, "not found"),
        (GEN, {"model": "a/b/c/d", "prompt": "x"}, 400, "invalid model name"),
        (GEN, {"prompt": "x"}, 400, "model: Field required"),
        (GEN, {**HELLO, "options": {"top_k": -2}}, 400, "top_k"),
        (GEN, {**HELLO, "options": {"temperature": True}}, 400, "temperature"),
        (GEN, {**HELLO, "keep_alive": "soon"}, 400, "keep_alive"),
        (GEN, {**HELLO, "format": "yaml"}, 400, "format"),
        (GEN, {**HELLO, "images": ["aGk="]}, 400, "images"),
        ("/api/chat", {"model": "tiny", "messages": [{"content": "x"}]}, 400, "no role"),
        ("/api/chat", {"model": "tiny", "messages": USER, "tools": [{}]}, 400, "tools"),
    ],
)
async def test_errors_have_a_status_by_type_and_name_the_problem(
    make_client: MakeClient,
    models: Path,
    path: str,
    body: dict[str, Any],
    status: int,
    says: str,
) -> None:
    client = await make_client()
    streams = (True, False) if path in (GEN, "/api/chat") else (None,)  # show, copy: none
    for stream in streams:
        sent = body if stream is None else {**body, "stream": stream}
        response = await client.post(path, json=sent)
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert says in error
        assert "Traceback" not in error and str(models) not in error


async def test_images_are_refused_for_a_model_without_vision(make_client: MakeClient) -> None:
    client = await make_client()
    message = {"role": "user", "content": "what is this?", "images": ["aGk="]}
    response = await client.post("/api/chat", json={"model": "tiny", "messages": [message]})
    assert response.status_code == 400
    assert response.json()["error"] == 'messages.images: "tiny:latest" does not support vision'


async def test_an_unknown_path_is_a_json_404(make_client: MakeClient) -> None:
    client = await make_client()
    response = await client.get("/api/nothing")
    assert response.status_code == 404
    assert "error" in response.json()


async def test_a_missing_model_reads_as_ollama_s_404(make_client: MakeClient) -> None:
    client = await make_client()
    response = await client.post("/api/show", json={"model": "nope"})
    assert response.status_code == 404
    assert response.json() == {"error": "model 'nope:latest' not found"}


async def test_refusals_and_handled_errors_share_one_shape_rule(make_client: MakeClient) -> None:
    # "/v1" itself is OpenAI's, for the middleware's refusals and the 404 handler alike.
    client = await make_client()
    refused = (await client.get("/v1", headers={"Host": "evil.example"})).json()["error"]
    missing = (await client.get("/v1")).json()["error"]
    assert set(refused) == set(missing) == {"message", "type", "param", "code"}
    assert refused["type"] == missing["type"] == "invalid_request_error"
    for headers in ({"Host": "evil.example"}, {}):  # not under /v1: Ollama's shape
        assert isinstance((await client.get("/v1beta", headers=headers)).json()["error"], str)


async def test_a_model_deleted_while_loaded_can_still_be_stopped(make_client: MakeClient) -> None:
    client = await make_client()
    await client.post("/api/copy", json={"source": "tiny", "destination": "gone"})
    await client.post("/api/generate", json={"model": "gone", "stream": False})
    await client.request("DELETE", "/api/delete", json={"model": "gone"})
    assert [m["name"] for m in (await client.get("/api/ps")).json()["models"]] == ["gone:latest"]
    stop = await client.post("/api/generate", json={"model": "gone", "keep_alive": 0})
    assert stop.status_code == 404
    assert (await client.get("/api/ps")).json() == {"models": []}
