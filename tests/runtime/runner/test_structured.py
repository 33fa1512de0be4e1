"""Structured output: ``format`` (json or a JSON schema) as a llama.cpp grammar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ladle.errors import InvalidRequestError
from runtime.protocol import GenerateRequest, SamplingOptions
from runtime.runner import grammar_for_format

from .conftest import StartRunner, complete

pytestmark = pytest.mark.anyio

COLOR = {
    "type": "object",
    "properties": {
        "color": {"enum": ["red", "green", "blue"]},
        "ok": {"type": "boolean"},
    },
    "required": ["color", "ok"],
}


def test_json_and_schemas_become_grammars() -> None:
    assert "root" in grammar_for_format("json")
    assert '\\"red\\"' in grammar_for_format(COLOR)
    with pytest.raises(InvalidRequestError, match="JSON schema"):
        grammar_for_format("yaml")


@pytest.mark.parametrize("seed", range(4))
async def test_even_noise_follows_the_schema(
    start: StartRunner, tiny_model: Path, seed: int
) -> None:
    runner = await start(tiny_model)
    options = SamplingOptions(temperature=1.0, seed=seed)
    request = GenerateRequest(
        prompt="hello", sampling=options, num_predict=200, grammar=grammar_for_format(COLOR)
    )
    text, final = await complete(runner, request)
    assert final.done_reason == "stop"  # the grammar ended, then only EOS was allowed
    value = json.loads(text)
    assert set(value) == {"color", "ok"}
    assert value["color"] in {"red", "green", "blue"} and isinstance(value["ok"], bool)
