"""schemathesis against a live ``ladle serve``: every operation of ``/openapi.json`` is
called with generated requests (valid and invalid), and every answer must be no server
error, a status the document declares, of a declared media type, and valid against the
declared schema (streams included: NDJSON lines, server-sent events).

Repeatable and bounded for CI: a fixed seed, few examples per operation, no shrinking,
no stateful phase, and a time budget (:data:`BUDGET_S`) past which the operations left
are skipped, saying so, rather than the run holding CI up. Three phases run: the request
examples the document shows (``sre-bot``), the coverage phase (schemathesis derives, from
each schema, its boundary values and its near misses: every field missing, of the wrong
type, out of range, an unknown one added, each method the path does not take), and
generated requests, valid and invalid. The server runs over a throwaway copy of the test
store, where the tiny model is also tagged ``sre-bot``, so the destructive routes
(delete, copy, create, blob uploads) may change it. Nothing
leaves the machine: registries are reached through a proxy on a closed loopback port and
Hugging Face is offline, so pull and push fail at once with 502 (which the document
declares, and which is the one 5xx this test accepts, for those routes only).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import schemathesis
from schemathesis import Case
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi import checks as openapi_checks

from builder.store.names import ModelName
from builder.store.store import Store

from .test_live_server import Server, free_port, live_server

EXAMPLES = 15
"""Generated requests per operation (per generation mode)."""
SEED = 8
BUDGET_S = 600
"""The most the whole run may take; it takes about a minute on a developer's machine."""
UPSTREAM_ROUTES = frozenset({"/api/pull", "/api/push", "/api/create"})
"""Routes that reach a registry or Hugging Face; here those fail, and say so with 502."""
TINY_ROUTES = frozenset(
    {
        "/api/generate",
        "/api/chat",
        "/api/embed",
        "/api/embeddings",
        "/api/show",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/messages",
        "/v1/messages/count_tokens",
        "/v1/responses",
    }
)
"""Routes whose generated ``model`` is swapped, half the time, for the tiny model, so
that generation itself is exercised (a random name only finds 404s)."""

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
        "generation": {"max-examples": EXAMPLES, "no-shrink": True, "mode": "all"},
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "stateful": {"enabled": False},
        },
    }
)

CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]


@schemathesis.deserializer("application/x-ndjson")
def ndjson_lines(context: schemathesis.DeserializationContext, response: Any) -> list[Any]:
    """An NDJSON stream as the array of its lines, as the document describes it."""
    return [json.loads(line) for line in response.content.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def served(built_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("schemathesis")
    shutil.copytree(built_store, folder / "models")
    store = Store(folder / "models")  # the documented examples ask sre-bot
    store.put_manifest(ModelName.parse("sre-bot"), store.get(ModelName.parse("tiny")).manifest)
    closed = f"http://127.0.0.1:{free_port()}"
    offline = {
        "HTTPS_PROXY": closed,
        "HTTP_PROXY": closed,
        "NO_PROXY": "",
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(folder / "hf"),
        "LADLE_CREDENTIALS": str(folder / "credentials.json"),
        "LADLE_KEEP_ALIVE": "-1",  # the tiny model loads once
    }
    with live_server(built_store, folder, offline) as server:
        yield server
    assert "Traceback" not in server.log(), server.log()


@pytest.fixture(scope="module")
def api(served: Server) -> schemathesis.BaseSchema:
    loaded = schemathesis.openapi.from_url(f"{served.url}/openapi.json", config=CONFIG)

    @loaded.hook
    def before_generate_body(context: Any, strategy: st.SearchStrategy[Any]) -> Any:
        if context.operation is None or context.operation.path not in TINY_ROUTES:
            return strategy
        return strategy.flatmap(_sometimes_tiny)

    return loaded


def _sometimes_tiny(body: Any) -> st.SearchStrategy[Any]:
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return st.just(body)
    return st.sampled_from([body, {**body, "model": "tiny"}])


schema = schemathesis.pytest.from_fixture("api")


@pytest.fixture(scope="module")
def started() -> float:
    """When the first case of the run started (the budget counts from there)."""
    return time.monotonic()


@schema.parametrize()
def test_the_server_keeps_to_its_openapi_document(case: Case, started: float) -> None:
    if time.monotonic() - started > BUDGET_S:
        pytest.skip(f"the run's {BUDGET_S} s budget is spent")
    response = case.call(timeout=60)
    if response.status_code == 502 and case.operation.path in UPSTREAM_ROUTES:
        checks = CHECKS[1:]  # declared: the registry or the Hub cannot be reached here
    else:
        checks = CHECKS
    case.validate_response(response, checks=checks)


def test_the_document_describes_every_route(served: Server) -> None:
    import httpx

    document = httpx.get(f"{served.url}/openapi.json", timeout=10).json()
    paths = document["paths"]
    for path in (*TINY_ROUTES, *UPSTREAM_ROUTES, "/api/tags", "/api/ps", "/api/copy"):
        assert path in paths, path
    assert {"/api/blobs/{digest}", "/api/delete", "/api/version", "/v1/models"} <= set(paths)
    generate = paths["/api/generate"]["post"]["responses"]
    assert "422" not in generate and "400" in generate
    assert set(generate["200"]["content"]) == {"application/json", "application/x-ndjson"}
    chat = paths["/v1/chat/completions"]["post"]["responses"]
    assert set(chat["200"]["content"]) == {"application/json", "text/event-stream"}
    upload = paths["/api/blobs/{digest}"]["post"]
    assert "application/octet-stream" in upload["requestBody"]["content"]
