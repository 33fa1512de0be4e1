"""LlamaIndex's ``llama-index-llms-ollama``, unchanged, against ``ladle serve``: chat,
stream, complete (sent to ``/api/chat``, as LlamaIndex does), structured output and a tool
round trip; and ``llama-index-embeddings-ollama``'s ``OllamaEmbedding`` (``/api/embed``),
synchronous and asynchronous, one text and a batch."""

from __future__ import annotations

import math

import pytest
from llama_index.core.llms import ChatMessage
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from llama_index.embeddings.ollama import OllamaEmbedding
from llama_index.llms.ollama import Ollama

from tests.runtime.api.test_live_server import Server

from .conversation import (
    CITY,
    QUESTION,
    STRUCTURED_QUESTION,
    TEMPERATURE,
    TOOL_RESULT,
    Weather,
    get_weather,
)

HELLO = [ChatMessage(role="user", content="hello")]


def llm(server: Server, model: str) -> Ollama:
    return Ollama(model=model, base_url=server.url, request_timeout=120)


def test_chat_stream_and_complete(client_server: Server) -> None:
    tiny = llm(client_server, "tiny")
    whole = tiny.chat(HELLO)
    assert whole.message.role == "assistant" and whole.message.content
    streamed = list(tiny.stream_chat(HELLO))
    assert streamed[-1].message.content == whole.message.content
    assert tiny.complete("hello").text


def test_structured_output(client_server: Server, tool_model: str) -> None:
    answer = llm(client_server, tool_model).structured_predict(
        Weather, PromptTemplate(STRUCTURED_QUESTION)
    )
    assert isinstance(answer, Weather)


def test_tool_round_trip(client_server: Server, tool_model: str) -> None:
    model = llm(client_server, tool_model)
    tools = [FunctionTool.from_defaults(fn=get_weather)]
    first = model.chat_with_tools(tools, user_msg=QUESTION)
    calls = model.get_tool_calls_from_response(first, error_on_no_tool_call=True)
    assert [(call.tool_name, call.tool_kwargs) for call in calls] == [
        ("get_weather", {"city": CITY})
    ]
    history = [
        ChatMessage(role="user", content=QUESTION),
        first.message,
        ChatMessage(
            role="tool",
            content=TOOL_RESULT,
            additional_kwargs={"tool_call_id": calls[0].tool_id, "tool_name": "get_weather"},
        ),
    ]
    final = model.chat_with_tools(tools, chat_history=history)
    assert not model.get_tool_calls_from_response(final, error_on_no_tool_call=False)
    assert str(TEMPERATURE) in (final.message.content or "")


def embedder(server: Server, model: str = "tiny") -> OllamaEmbedding:
    return OllamaEmbedding(model_name=model, base_url=server.url)


def test_embeddings_of_a_query_and_of_a_batch(client_server: Server) -> None:
    embedding = embedder(client_server)
    query = embedding.get_query_embedding("hello")
    assert len(query) > 0 and math.isclose(math.fsum(x * x for x in query), 1.0, rel_tol=1e-4)
    batch = embedding.get_text_embedding_batch(["hello", "world", "hello"])
    assert len(batch) == 3 and all(len(vector) == len(query) for vector in batch)
    assert batch[0] == pytest.approx(batch[2]) and batch[0] != pytest.approx(batch[1])
    assert batch[0] == pytest.approx(query, abs=1e-6)  # no instruction: the same text


@pytest.mark.anyio
async def test_embeddings_asynchronously(client_server: Server) -> None:
    embedding = embedder(client_server)
    vectors = await embedding.aget_text_embedding_batch(["hello", "world"])
    query = await embedding.aget_query_embedding("world")
    assert len(vectors) == 2 and vectors[1] == pytest.approx(query, abs=1e-6)


def test_embeddings_of_an_unknown_model_are_an_error(client_server: Server) -> None:
    import ollama

    with pytest.raises(ollama.ResponseError) as caught:
        embedder(client_server, "nope").get_query_embedding("hello")
    assert caught.value.status_code == 404


def test_an_unknown_model_is_an_error(client_server: Server) -> None:
    import ollama

    with pytest.raises(ollama.ResponseError) as caught:
        llm(client_server, "nope").chat(HELLO)
    assert caught.value.status_code == 404
