"""A client's mistakes are 4xx answers that name the field, never a 500 (issue 16), and
no field a client sends is dropped unread (issue 15): each case here once answered 500,
crashed a runner, acted on another model than the one named, or was silently ignored."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import httpx
import pytest

from builder.store.names import ModelName
from builder.store.store import Store
from modelfile.parameters import MAX_NUM_BATCH
from runtime.api.options import machine_threads
from tests.runtime.scheduler_fakes import FakeFactory, put_image

from .conftest import MakeClient

pytestmark = pytest.mark.anyio

HELLO = {"model": "tiny", "prompt": "hi", "stream": False}
CHAT = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "stream": False}


async def fake(make_client: MakeClient) -> httpx.AsyncClient:
    """A client of an app whose runners are fakes: these requests never need a model."""
    return await make_client(FakeFactory())


def error_of(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    message: str = response.json()["error"]
    return message


# -- keep_alive ----------------------------------------------------------------


@pytest.mark.parametrize("keep_alive", [1e16, 2**63, "9999999999999999h"])
async def test_a_huge_keep_alive_keeps_the_model_and_ps_still_answers(
    make_client: MakeClient, keep_alive: float | str
) -> None:
    client = await fake(make_client)
    response = await client.post("/api/generate", json={**HELLO, "keep_alive": keep_alive})
    assert response.status_code == 200, response.text
    ps = await client.get("/api/ps")
    assert ps.status_code == 200, ps.text
    assert int(ps.json()["models"][0]["expires_at"][:4]) > 2300  # Go's "forever"
    # A value kept from a request never breaks a later one; the later one's applies.
    assert (await client.post("/api/generate", json=HELLO)).status_code == 200
    ps = await client.get("/api/ps")
    assert ps.status_code == 200, ps.text
    assert int(ps.json()["models"][0]["expires_at"][:4]) < 2300


# -- bodies that are not text, or not JSON as Go reads it -------------------------

SURROGATE = "\\ud800"  # as it is written in a JSON body: an escape with no pair


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/generate", f'{{"model":"tiny","prompt":"{SURROGATE}"}}', "prompt"),
        (
            "/api/chat",
            f'{{"model":"tiny","messages":[{{"role":"user","content":"a{SURROGATE}"}}]}}',
            "messages.0.content",
        ),
        ("/api/embed", f'{{"model":"tiny","input":["ok","{SURROGATE}"]}}', "input.1"),
        (
            "/api/generate",
            f'{{"model":"tiny","prompt":"x","options":{{"stop":["{SURROGATE}"]}}}}',
            "options.stop.0",
        ),
        ("/api/create", f'{{"model":"x","from":"tiny","system":"{SURROGATE}"}}', "system"),
        ("/api/generate", f'{{"model":"tiny","options":{{"{SURROGATE}":1}}}}', "options.\\ud800"),
    ],
    ids=["prompt", "chat content", "embed input", "stop string", "create system", "a key"],
)
async def test_a_lone_surrogate_is_a_400_naming_its_field(
    make_client: MakeClient, path: str, body: str, field: str
) -> None:
    client = await fake(make_client)
    message = error_of(await client.post(path, content=body))
    assert message.startswith(f"invalid request: {field}: holds a lone surrogate"), message


async def test_a_lone_surrogate_on_v1_is_openai_s_error_with_its_param(
    make_client: MakeClient,
) -> None:
    client = await fake(make_client)
    body = f'{{"model":"tiny","messages":[{{"role":"user","content":"{SURROGATE}"}}]}}'
    response = await client.post("/v1/chat/completions", content=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "messages[0].content"
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_a_surrogate_pair_is_one_character_and_passes(make_client: MakeClient) -> None:
    client = await fake(make_client)
    body = '{"model":"tiny","prompt":"\\ud83d\\ude00","stream":false}'  # one emoji
    assert (await client.post("/api/generate", content=body)).status_code == 200


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('{"model":"tiny","prompt":"x","keep_alive":NaN}', "NaN is not a JSON number"),
        ('{"model":"tiny","prompt":"x","keep_alive":Infinity}', "Infinity is not a JSON"),
        ('{"model":"tiny","prompt":"x","keep_alive":-Infinity}', "-Infinity is not a JSON"),
        ('{"model":"tiny","prompt":"x","keep_alive":1e400}', "out of range of a 64-bit float"),
        ('{"model":"tiny","prompt":"x","keep_alive":' + "9" * 5000 + "}", "integer too long"),
        ("[" * 100_000 + "]" * 100_000, "it nests too deeply"),
    ],
    ids=["NaN", "Infinity", "-Infinity", "1e400", "5000 digits", "deep"],
)
async def test_what_python_reads_but_json_has_not_is_a_400(
    make_client: MakeClient, body: str, says: str
) -> None:
    client = await fake(make_client)
    message = error_of(await client.post("/api/generate", content=body))
    assert message.startswith("invalid request: the body is not JSON: ")
    assert says in message


# -- strict types and unknown fields ---------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/generate", {**HELLO, "stream": "yes"}, "stream"),
        ("/api/generate", {**HELLO, "stream": 1}, "stream"),
        ("/api/generate", {**HELLO, "prompt": 5}, "prompt"),
        ("/api/generate", {**HELLO, "top_logprobs": 2.5}, "top_logprobs"),
        ("/api/chat", {**CHAT, "logprobs": "true"}, "logprobs"),
        ("/api/embed", {"model": "tiny", "input": "x", "truncate": "no"}, "truncate"),
        ("/api/show", {"model": "tiny", "verbose": 1}, "verbose"),
        ("/api/create", {"model": "x", "from": "tiny", "stream": "false"}, "stream"),
    ],
)
async def test_a_value_of_the_wrong_json_type_is_a_400(
    make_client: MakeClient, path: str, body: dict[str, Any], field: str
) -> None:
    client = await fake(make_client)
    assert error_of(await client.post(path, json=body)).startswith(f"invalid request: {field}: ")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/generate", {**HELLO, "strem": False}, "strem"),
        ("/api/generate", {**HELLO, "_debug_render_only": True}, "_debug_render_only"),
        ("/api/chat", {**CHAT, "tool_choice": "auto"}, "tool_choice"),
        (
            "/api/embed",
            {"model": "tiny", "input": "x", "encoding_format": "float"},
            "encoding_format",
        ),
        ("/api/embeddings", {"model": "tiny", "prompt": "x", "truncate": True}, "truncate"),
        ("/api/copy", {"source": "tiny", "destination": "t2", "force": True}, "force"),
        ("/api/pull", {"model": "tiny", "verify": True}, "verify"),
    ],
)
async def test_an_unknown_field_is_a_400_naming_it(
    make_client: MakeClient, path: str, body: dict[str, Any], field: str
) -> None:
    client = await fake(make_client)
    message = error_of(await client.post(path, json=body))
    assert message == f"invalid request: {field}: unknown field"


async def test_an_unknown_v1_field_is_openai_s_error_with_its_param(
    make_client: MakeClient,
) -> None:
    client = await fake(make_client)
    body = {"model": "tiny", "messages": CHAT["messages"], "logit_bias": {"50256": -100}}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["type"]) == ("logit_bias", "invalid_request_error")
    embedding = await client.post("/v1/embeddings", json={"model": "tiny", "input": "x", "x": 1})
    assert embedding.json()["error"]["param"] == "x"
    typed = await client.post("/v1/completions", json={"model": "tiny", "prompt": "x", "n": "1"})
    assert typed.json()["error"]["param"] == "n"


async def test_v1_fields_accepted_without_effect(make_client: MakeClient) -> None:
    client = await fake(make_client)
    chat = {"model": "tiny", "messages": CHAT["messages"], "user": "user-42"}
    assert (await client.post("/v1/chat/completions", json=chat)).status_code == 200
    embedding = {"model": "tiny", "input": "x", "user": "user-42"}
    assert (await client.post("/v1/embeddings", json=embedding)).status_code == 200
    schema = {"name": "w", "description": "a weather report", "schema": {"type": "object"}}
    chat["response_format"] = {"type": "json_schema", "json_schema": schema}
    assert (await client.post("/v1/chat/completions", json=chat)).status_code == 200


async def test_the_go_client_s_empty_fields_pass_and_values_are_refused(
    make_client: MakeClient,
) -> None:
    """Ollama's Go client sends ``ShowRequest`` and ``PullRequest`` whole, empty fields
    included; a value in a field ladle does not implement is refused by name."""
    client = await fake(make_client)
    show = {"model": "tiny", "system": "", "template": "", "verbose": False, "options": None}
    assert (await client.post("/api/show", json={**show, "name": ""})).status_code == 200
    for field, value in (("system", "be brief"), ("template", "{{ .Prompt }}")):
        message = error_of(await client.post("/api/show", json={**show, field: value}))
        assert message.startswith(f"{field}: ladle shows an image as it is stored")
    pull = {"model": "tiny", "username": "me", "password": "", "stream": False}
    assert error_of(await client.post("/api/pull", json=pull)).startswith("username: ")


# -- names -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tiny\n", " tiny", "tiny:latest\t"])
async def test_a_name_is_never_stripped_into_another(make_client: MakeClient, name: str) -> None:
    client = await fake(make_client)
    response = await client.request("DELETE", "/api/delete", json={"model": name})
    assert error_of(response).startswith(f"invalid model name {name!r}")
    names = [model["name"] for model in (await client.get("/api/tags")).json()["models"]]
    assert "tiny:latest" in names


# -- options ---------------------------------------------------------------------

BOUNDS = [
    ({"num_batch": 10**12}, "invalid num_batch 1000000000000: at most 65,536 tokens per batch"),
    ({"num_thread": 10**6}, "invalid num_thread 1000000: at most "),
    (
        {"num_thread": machine_threads() + 1},
        f"invalid num_thread {machine_threads() + 1}: at most {machine_threads():,} threads",
    ),
    ({"num_gpu": 2**40}, "invalid num_gpu"),
    ({"num_ctx": 1e30}, "invalid num_ctx 1e+30: at most 16,777,216 tokens"),
    ({"repeat_last_n": 2**31}, "invalid repeat_last_n"),
    ({"temprature": 0.5}, "invalid temprature 0.5: no such option"),
    ({"mirostat": 2}, "invalid mirostat 2: Ollama dropped this option"),
]


@pytest.mark.parametrize(("options", "says"), BOUNDS)
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/generate", HELLO),
        ("/api/generate", {**HELLO, "prompt": ""}),  # a load alone
        ("/api/chat", CHAT),
        ("/api/embed", {"model": "tiny", "input": "x"}),
        ("/api/embeddings", {"model": "tiny", "prompt": "x"}),
    ],
    ids=["generate", "load", "chat", "embed", "embeddings"],
)
async def test_an_option_out_of_bounds_or_unknown_is_refused_before_loading(
    make_client: MakeClient, path: str, body: dict[str, Any], options: dict[str, Any], says: str
) -> None:
    factory = FakeFactory()
    client = await make_client(factory)
    message = error_of(await client.post(path, json={**body, "options": options}))
    assert message.startswith(says), message
    assert factory.runners == []  # refused before any runner started


async def test_an_image_s_parameters_have_the_same_ceilings(make_client: MakeClient) -> None:
    """``/api/create``'s ``parameters`` become the image's, which a runner loads with."""
    client = await fake(make_client)
    for parameters, says in BOUNDS[:2]:
        request = {"model": "x", "from": "tiny", "parameters": parameters, "stream": False}
        message = error_of(await client.post("/api/create", json=request))
        assert message.startswith(says), message
    many = {"model": "x", "from": "tiny", "parameters": {"num_thread": 64}, "stream": False}
    assert (await client.post("/api/create", json=many)).status_code == 200  # may run elsewhere


async def test_an_option_out_of_bounds_on_v1_names_its_param(make_client: MakeClient) -> None:
    client = await fake(make_client)
    body = {"model": "tiny", "messages": CHAT["messages"], "max_tokens": 10**12}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200  # num_predict has no ceiling: the context ends it
    body = {"model": "tiny", "messages": CHAT["messages"], "top_p": 2}
    assert (await client.post("/v1/chat/completions", json=body)).json()["error"][
        "param"
    ] == "top_p"


async def test_null_options_are_options_not_set(make_client: MakeClient) -> None:
    client = await fake(make_client)
    options = {"mirostat": None, "num_batch": None, "temperature": None}
    assert (
        await client.post("/api/generate", json={**HELLO, "options": options})
    ).status_code == 200


async def test_the_highest_bounds_load_and_answer(make_client: MakeClient) -> None:
    """The real runner (the tiny model) at the ceilings: no crash, an answer."""
    client = await make_client()
    options = {"num_batch": MAX_NUM_BATCH, "num_thread": machine_threads(), "num_predict": 2}
    response = await client.post("/api/generate", json={**HELLO, "options": options})
    assert response.status_code == 200, response.text
    assert response.json()["done"] is True


# -- create from a file that is not a GGUF ------------------------------------------


def malformed(tiny: bytes) -> dict[str, bytes]:
    """Files named ``*.gguf`` that llama.cpp would refuse, made from the tiny model."""
    return {
        "text": b"these are not weights\n",
        "version": tiny[:4] + struct.pack("<I", 99) + tiny[8:],
        "truncated": tiny[: len(tiny) // 2],
        "tensor count": tiny[:8] + struct.pack("<Q", 2**40) + tiny[16:],
        "last byte cut": tiny[:-1],
    }


@pytest.mark.parametrize("stream", [True, False])
async def test_create_from_a_blob_that_is_no_gguf_is_a_400(
    make_client: MakeClient, tiny_model: Path, stream: bool
) -> None:
    client = await fake(make_client)
    for kind, data in malformed(tiny_model.read_bytes()).items():
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        assert (await client.post(f"/api/blobs/{digest}", content=data)).status_code == 201
        request = {"model": "bad", "files": {"bad.gguf": digest}, "stream": stream}
        message = error_of(await client.post("/api/create", json=request))
        assert message.startswith("files: bad.gguf: "), (kind, message)


# -- what the server shows of itself ----------------------------------------------


async def test_a_damaged_config_leaves_the_other_images_listed(
    make_client: MakeClient, models: Path
) -> None:
    store = Store(models)
    put_image(store, "damaged")
    damaged = store.get(ModelName.parse("damaged")).manifest.config.digest
    store.blob_path(damaged).write_bytes(b"{}")
    client = await fake(make_client)
    response = await client.get("/api/tags")
    assert response.status_code == 200, response.text
    listed = response.json()
    assert "tiny:latest" in [model["name"] for model in listed["models"]]
    assert [entry["name"] for entry in listed["damaged"]] == ["damaged:latest"]
    assert "does not match the digest" in listed["damaged"][0]["error"]
    assert str(models) not in response.text
    assert (await client.get("/v1/models")).status_code == 200


async def test_show_and_create_name_no_server_path(
    make_client: MakeClient, models: Path, tiny_model: Path
) -> None:
    client = await fake(make_client)
    shown = (await client.post("/api/show", json={"model": "tiny"})).json()["modelfile"]
    assert "FROM tiny:latest\n" in shown and str(models) not in shown and "/blobs/" not in shown
    data = tiny_model.read_bytes()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    await client.post(f"/api/blobs/{digest}", content=data)
    response = await client.post("/api/create", json={"model": "up", "files": {"t.gguf": digest}})
    statuses = [json.loads(line)["status"] for line in response.text.splitlines()]
    assert statuses[-1] == "success" and any(s.startswith("copying sha256-") for s in statuses)
    assert str(models) not in response.text and "/blobs/" not in response.text
