"""``ladle serve``'s ``/v1`` routes driven by the official, unmodified ``openai`` client,
against a live server process over the tiny model (as in :mod:`.test_live_server`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from .test_live_server import ROOT, Server, live_server

USER: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def served(built_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with live_server(built_store, tmp_path_factory.mktemp("live-openai")) as server:
        yield server


@pytest.fixture
def client(served: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{served.url}/v1", api_key="unused", timeout=120)


def test_chat_completion(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(model="tiny", messages=USER, max_tokens=6)
    assert answer.object == "chat.completion" and answer.id.startswith("chatcmpl-")
    choice = answer.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason == "length"
    assert answer.usage is not None and answer.usage.completion_tokens == 6


def test_streamed_chat_completion_with_usage(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model="tiny", messages=USER, max_tokens=6)
    chunks = list(
        client.chat.completions.create(
            model="tiny",
            messages=USER,
            max_tokens=6,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == whole.choices[0].message.content  # the image's temperature 0
    assert chunks[-2].choices[0].finish_reason == "length"
    usage = chunks[-1].usage
    assert not chunks[-1].choices and usage is not None and usage.completion_tokens == 6


def test_a_repeated_chat_counts_its_whole_prompt_and_reports_the_cached_part(
    client: openai.OpenAI,
) -> None:
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "user", "content": "the world is hello"}
    ]
    usages = []
    for _ in range(2):
        answer = client.chat.completions.create(model="tiny", messages=messages, max_tokens=2)
        assert answer.usage is not None and answer.usage.prompt_tokens_details is not None
        usages.append(answer.usage)
    first, second = usages
    assert first.prompt_tokens == second.prompt_tokens  # the whole prompt, both times
    assert second.prompt_tokens_details is not None
    assert second.prompt_tokens_details.cached_tokens == second.prompt_tokens - 1


def test_completion(client: openai.OpenAI) -> None:
    answer = client.completions.create(model="tiny", prompt="hello", max_tokens=4)
    assert answer.object == "text_completion" and answer.choices[0].text
    streamed = list(client.completions.create(model="tiny", prompt="hello", stream=True))
    assert "".join(chunk.choices[0].text for chunk in streamed)


def test_logprobs_with_the_openai_client(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model="tiny", messages=USER, max_tokens=4, logprobs=True, top_logprobs=3
    )
    logprobs = answer.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert answer.usage is not None and len(logprobs.content) == answer.usage.completion_tokens
    for entry in logprobs.content:
        assert entry.logprob <= 0 and len(entry.top_logprobs) == 3
        values = [top.logprob for top in entry.top_logprobs]
        assert values == sorted(values, reverse=True)
    legacy = client.completions.create(model="tiny", prompt="hello", max_tokens=3, logprobs=2)
    tokens = legacy.choices[0].logprobs
    assert tokens is not None and tokens.tokens and tokens.token_logprobs
    assert len(tokens.tokens) == len(tokens.token_logprobs) == len(tokens.text_offset or [])


def test_embeddings(client: openai.OpenAI) -> None:
    result = client.embeddings.create(model="tiny", input=["hello", "world"])
    assert [item.index for item in result.data] == [0, 1]
    assert abs(sum(x * x for x in result.data[0].embedding) - 1) < 1e-3
    floats = client.embeddings.create(model="tiny", input="hello", encoding_format="float")
    assert floats.data[0].embedding == pytest.approx(result.data[0].embedding, abs=1e-6)


def test_models_list_and_retrieve(client: openai.OpenAI) -> None:
    assert "tiny:latest" in [model.id for model in client.models.list()]
    model = client.models.retrieve("tiny:latest")
    assert model.id == "tiny:latest" and model.owned_by == "library"


def test_a_json_schema_response_parses(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string", "maxLength": 8}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    answer = client.chat.completions.create(
        model="tiny",
        messages=USER,
        max_tokens=60,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "reply", "schema": schema, "strict": True},
        },
    )
    assert answer.choices[0].finish_reason == "stop", answer.choices[0].message.content
    parsed = json.loads(answer.choices[0].message.content or "")
    assert set(parsed) == {"answer"} and isinstance(parsed["answer"], str)


def test_an_unknown_model_raises_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="nope", messages=USER)
    assert "'nope:latest' not found" in missing.value.message
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=USER, stream=True)


def test_the_documented_example_runs(served: Server) -> None:
    docs = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    section = docs.split("## OpenAI's API", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    example = example.replace("http://127.0.0.1:11434", served.url).replace("sre-bot", "tiny")
    exec(compile(example, "docs/api.md", "exec"), {})


WEATHER_TOOL: openai.types.chat.ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "unit": {"enum": ["celsius", "fahrenheit"]},
                "rain": {"type": "boolean"},
            },
            "required": ["unit", "rain"],
            "additionalProperties": False,
        },
    },
}
NOW_TOOL: openai.types.chat.ChatCompletionToolParam = {
    "type": "function",
    "function": {"name": "now", "description": "The time"},
}


def test_a_forced_function_is_called_with_arguments_of_its_schema(client: openai.OpenAI) -> None:
    """What instructor's TOOLS mode does: force one named function, read its arguments."""
    answer = client.chat.completions.create(
        model="tiny-tools",
        messages=USER,
        tools=[WEATHER_TOOL, NOW_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=200,
        temperature=0,
    )
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls", choice.message.content
    [call] = choice.message.tool_calls or []
    assert call.type == "function" and call.function.name == "get_weather"
    arguments = json.loads(call.function.arguments)
    assert set(arguments) == {"unit", "rain"} and arguments["unit"] in ("celsius", "fahrenheit")
    assert isinstance(arguments["rain"], bool)


def test_required_returns_a_tool_call(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model="tiny-tools",
        messages=USER,
        tools=[WEATHER_TOOL, NOW_TOOL],
        tool_choice="required",
        parallel_tool_calls=False,
        max_tokens=200,
        temperature=0,
    )
    calls = answer.choices[0].message.tool_calls
    assert calls and len(calls) == 1 and calls[0].function.name in ("get_weather", "now")
    json.loads(calls[0].function.arguments)


def test_none_returns_content_and_no_tool_calls(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model="tiny-tools",
        messages=USER,
        tools=[WEATHER_TOOL, NOW_TOOL],
        tool_choice="none",
        max_tokens=6,
    )
    message = answer.choices[0].message
    assert message.content and not message.tool_calls


def test_an_unknown_forced_function_is_a_bad_request_naming_tool_choice(
    client: openai.OpenAI,
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="tiny-tools",
            messages=USER,
            tools=[NOW_TOOL],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
        )
    assert refused.value.param == "tool_choice" and "'get_weather'" in refused.value.message
