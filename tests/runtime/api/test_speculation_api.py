"""Speculative decoding through the HTTP API, in process over the tiny model: the
``spec_ngram`` and ``draft_num_predict`` options, the final object's draft counts, and
``/api/ps`` and ``/metrics`` showing them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from builder.store.store import Store
from tests.fixtures.tiny_gguf import write_tiny_llama

from .conftest import TINY_MODELFILE, MakeClient, build

pytestmark = pytest.mark.anyio

GREEDY = {"temperature": 0, "repeat_penalty": 1.0, "num_predict": 48, "ignore_eos": True}


def generate(options: dict[str, Any]) -> dict[str, Any]:
    return {"model": "tiny", "prompt": "hello world", "stream": False, "options": options}


async def test_ngram_speculation_answers_the_same_and_counts_its_drafts(
    make_client: MakeClient,
) -> None:
    client = await make_client()
    plain = (await client.post("/api/generate", json=generate(GREEDY))).json()
    fast = (await client.post("/api/generate", json=generate(GREEDY | {"spec_ngram": 2}))).json()
    assert fast["response"] == plain["response"]
    assert "draft_count" not in plain
    assert fast["draft_count"] >= fast["draft_accepted_count"] > 0
    [running] = (await client.get("/api/ps")).json()["models"]
    assert running["draft"] is None
    counts = running["speculation"]
    assert (counts["drafted"], counts["accepted"]) == (
        fast["draft_count"],
        fast["draft_accepted_count"],
    )
    assert counts["acceptance_rate"] == pytest.approx(counts["accepted"] / counts["drafted"])
    metrics = (await client.get("/metrics")).text
    assert f"ladle_draft_tokens_total {float(fast['draft_count'])}" in metrics


async def test_draft_num_predict_zero_turns_speculation_off(make_client: MakeClient) -> None:
    client = await make_client()
    options = GREEDY | {"spec_ngram": 2, "draft_num_predict": 0}
    answer = (await client.post("/api/generate", json=generate(options))).json()
    assert "draft_count" not in answer


@pytest.mark.parametrize(
    ("option", "value"),
    [("spec_ngram", -1), ("spec_ngram", 17), ("spec_ngram", True), ("draft_num_predict", 65)],
)
async def test_a_bad_speculation_option_is_refused_by_name(
    make_client: MakeClient, option: str, value: object
) -> None:
    client = await make_client()
    response = await client.post("/api/generate", json=generate({option: value}))
    assert response.status_code == 400
    assert option in response.json()["error"]


async def test_an_image_with_a_draft_loads_it_beside_the_model(
    make_client: MakeClient, models: Path, tiny_model: Path, tmp_path: Path
) -> None:
    draft = write_tiny_llama(tmp_path / "draft.gguf", seed=1)  # the same vocabulary
    text = TINY_MODELFILE.format(model=tiny_model) + f"DRAFT {draft}\n"
    build(Store(models), tmp_path / "src", "tiny-draft", text)
    client = await make_client()
    plain = (await client.post("/api/generate", json=generate(GREEDY))).json()
    drafted = await client.post("/api/generate", json=generate(GREEDY) | {"model": "tiny-draft"})
    assert drafted.status_code == 200, drafted.text
    assert drafted.json()["response"] == plain["response"]
    running = {model["name"]: model for model in (await client.get("/api/ps")).json()["models"]}
    assert running["tiny-draft:latest"]["draft"].startswith("sha256:")
    assert running["tiny:latest"]["draft"] is None
