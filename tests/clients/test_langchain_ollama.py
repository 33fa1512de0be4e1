"""LangChain's ``langchain-ollama``, unchanged, against ``ladle serve``: ChatOllama (chat,
stream, structured output, a tool round trip), OllamaLLM (``/api/generate``) and
OllamaEmbeddings (``/api/embed``)."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_ollama import ChatOllama, OllamaEmbeddings, OllamaLLM

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


def test_chat_and_stream(client_server: Server) -> None:
    chat = ChatOllama(model="tiny", base_url=client_server.url)
    whole = chat.invoke("hello")
    assert isinstance(whole, AIMessage) and whole.content
    assert whole.usage_metadata and whole.usage_metadata["output_tokens"] == 8
    streamed = "".join(str(chunk.content) for chunk in chat.stream("hello"))
    assert streamed == whole.content


def test_generate(client_server: Server) -> None:
    llm = OllamaLLM(model="tiny", base_url=client_server.url)
    assert llm.invoke("hello")
    assert "".join(llm.stream("hello"))


def test_embed(client_server: Server) -> None:
    embeddings = OllamaEmbeddings(model="tiny", base_url=client_server.url)
    vectors = embeddings.embed_documents(["hello", "world"])
    assert len(vectors) == 2 and len(vectors[0]) == len(embeddings.embed_query("hello")) > 0


def test_structured_output(client_server: Server, tool_model: str) -> None:
    chat = ChatOllama(model=tool_model, base_url=client_server.url)
    answer = chat.with_structured_output(Weather, method="json_schema").invoke(STRUCTURED_QUESTION)
    assert isinstance(answer, Weather)


def test_tool_round_trip(client_server: Server, tool_model: str) -> None:
    chat = ChatOllama(model=tool_model, base_url=client_server.url).bind_tools([get_weather])
    messages: list[BaseMessage] = [HumanMessage(QUESTION)]
    first = chat.invoke(messages)
    assert isinstance(first, AIMessage)
    assert [(call["name"], call["args"]) for call in first.tool_calls] == [
        ("get_weather", {"city": CITY})
    ]
    messages += [first, ToolMessage(TOOL_RESULT, tool_call_id=first.tool_calls[0]["id"] or "")]
    final = chat.invoke(messages)
    assert isinstance(final, AIMessage) and not final.tool_calls
    assert str(TEMPERATURE) in str(final.content)


def test_an_unknown_model_is_an_error(client_server: Server) -> None:
    import ollama

    with pytest.raises(ollama.ResponseError) as caught:
        ChatOllama(model="nope", base_url=client_server.url).invoke("hello")
    assert caught.value.status_code == 404
