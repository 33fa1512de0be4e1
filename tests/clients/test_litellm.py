"""LiteLLM, unchanged, against ``ladle serve``: its ``ollama_chat/`` provider (``/api/chat``)
and its ``ollama/`` provider (``/api/generate``, ``/api/embed``). LiteLLM posts JSON
without a Content-Type, which ladle reads as JSON as Ollama does."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from tests.runtime.api.test_live_server import Server

from .conversation import (
    CITY,
    QUESTION,
    STRUCTURED_QUESTION,
    TEMPERATURE,
    TOOL_RESULT,
    WEATHER_TOOL,
    Weather,
)

# LiteLLM fetches a price list from the internet on import unless told to use its own copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import litellm

# LiteLLM's own pydantic types warn about ReadOnly TypedDict items as they are built.
pytestmark = pytest.mark.filterwarnings("ignore:.*ReadOnly. qualifier:UserWarning")

HELLO = [{"role": "user", "content": "hello"}]


def ask(server: Server, model: str, **kwargs: Any) -> Any:
    return litellm.completion(model=model, api_base=server.url, timeout=120, **kwargs)


def test_chat_and_stream(client_server: Server) -> None:
    whole = ask(client_server, "ollama_chat/tiny", messages=HELLO)
    assert whole.choices[0].message.role == "assistant" and whole.choices[0].message.content
    assert whole.usage.completion_tokens == 8
    chunks = list(ask(client_server, "ollama_chat/tiny", messages=HELLO, stream=True))
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text == whole.choices[0].message.content


def test_generate(client_server: Server) -> None:
    whole = ask(client_server, "ollama/tiny", messages=HELLO)
    assert whole.choices[0].message.content
    chunks = list(ask(client_server, "ollama/tiny", messages=HELLO, stream=True))
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks)


def test_embed(client_server: Server) -> None:
    result = litellm.embedding(
        model="ollama/tiny", input=["hello", "world"], api_base=client_server.url
    )
    vectors = [item["embedding"] for item in result.data]
    assert len(vectors) == 2 and len(vectors[0]) > 0


def test_structured_output(client_server: Server, tool_model: str) -> None:
    answer = ask(
        client_server,
        f"ollama_chat/{tool_model}",
        messages=[{"role": "user", "content": STRUCTURED_QUESTION}],
        response_format=Weather,
    )
    Weather.model_validate_json(answer.choices[0].message.content)


def test_tool_round_trip(client_server: Server, tool_model: str) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": QUESTION}]
    model = f"ollama_chat/{tool_model}"
    first = ask(client_server, model, messages=messages, tools=[WEATHER_TOOL])
    calls = first.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"city": CITY}
    messages += [
        first.choices[0].message.model_dump(),
        {"role": "tool", "tool_call_id": calls[0].id, "content": TOOL_RESULT},
    ]
    final = ask(client_server, model, messages=messages, tools=[WEATHER_TOOL])
    assert not final.choices[0].message.tool_calls
    assert str(TEMPERATURE) in final.choices[0].message.content


@pytest.mark.parametrize("provider", ["ollama_chat", "ollama"])
def test_an_unknown_model_is_an_error(client_server: Server, provider: str) -> None:
    with pytest.raises(litellm.exceptions.NotFoundError) as caught:
        ask(client_server, f"{provider}/nope", messages=HELLO)
    assert caught.value.status_code == 404 and "'nope:latest' not found" in str(caught.value)
