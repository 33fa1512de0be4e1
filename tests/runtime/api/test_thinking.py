"""``think`` end to end: a reasoning template (Qwen3-style Jinja, and an Ollama Go template
that reads ``.Think``, ``.ThinkLevel`` and ``.IsThinkSet``) over the tiny model, whose
output a grammar steers into ``<think>…</think>`` and an answer. The real runner
generates it; the API splits the thoughts from the answer, streamed and not, in Ollama's
and OpenAI's shapes."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from builder.store.store import Store
from runtime.placement import PlannedRunnerFactory
from runtime.protocol import GenerateChunk, GenerateRequest, LoadSpec, RunnerHandle

from .conftest import MakeClient, build

pytestmark = pytest.mark.anyio

WORDS = r'[a-z]{2,5} (" " [a-z]{2,5}){1,2}'
THOUGHT_THEN_ANSWER = f'root ::= "<think>" {WORDS} "</think>" {WORDS}\n'
"""What the tiny model is made to write: a thought in tags, then an answer."""
INSIDE_THEN_ANSWER = f'root ::= {WORDS} "</think>" {WORDS}\n'
"""The same when the prompt has opened the block already."""
THOUGHT_THEN_CALL = (
    f'root ::= "<think>" {WORDS} "</think>" "<tool_call>" '
    '"{\\"name\\": \\"now\\", \\"arguments\\": {}}" "</tool_call>"\n'
)
TEXT = re.compile(r"[a-z]{2,5}( [a-z]{2,5}){1,2}")

QWEN3_STYLE = """\
FROM {model}
PARAMETER num_ctx 256
PARAMETER num_predict 100
PARAMETER temperature 0
TEMPLATE \"\"\"{{% if tools %}}<tools>{{{{ tools | tojson }}}}</tools>{{% endif %}}
{{%- if reasoning_effort is defined %}}Reasoning: {{{{ reasoning_effort }}}}
{{% endif %}}
{{%- for m in messages %}}<|im_start|>{{{{ m.role }}}}
{{% if m.reasoning_content %}}<think>{{{{ m.reasoning_content }}}}</think>{{% endif %}}
{{{{- m.content }}}}<|im_end|>
{{% endfor %}}<|im_start|>assistant
{{% if enable_thinking is defined and enable_thinking is false %}}<think>

</think>

{{% endif %}}<tool_call>\"\"\"
"""

GO_THINK = """\
FROM {model}
PARAMETER num_ctx 256
PARAMETER num_predict 100
PARAMETER temperature 0
TEMPLATE \"\"\"{{{{- range .Messages }}}}<|{{{{ .Role }}}}|>
{{{{- if .Thinking }}}}<think>{{{{ .Thinking }}}}</think>{{{{ end }}}}{{{{ .Content }}}}
{{{{ end }}}}<|assistant|>
{{{{- if .Think }}}}({{{{ .ThinkLevel }}}})<think>
{{{{- else if .IsThinkSet }}}}<think></think>{{{{ end }}}}\"\"\"
"""

NOW = {"type": "function", "function": {"name": "now", "description": "The time."}}
HI = [{"role": "user", "content": "hi"}]


class Steered:
    """The real runner, with each request's grammar replaced by the test's and each
    prompt kept."""

    def __init__(self, runner: RunnerHandle, steering: dict[str, Any]) -> None:
        self._runner, self._steering = runner, steering

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runner, name)

    async def generate(self, request: GenerateRequest) -> AsyncIterator[GenerateChunk]:
        self._steering["prompts"].append(request.prompt)
        self._steering.setdefault("fences", []).append(
            (request.grammar_after, request.grammar_unless)
        )
        # The test's grammar steers the whole reply, thoughts included.
        update = {"grammar": self._steering["grammar"], "grammar_after": None}
        steered = request.model_copy(update=update)
        async for chunk in self._runner.generate(steered):
            yield chunk


@pytest.fixture
def steering() -> dict[str, Any]:
    return {"grammar": THOUGHT_THEN_ANSWER, "prompts": []}


@pytest.fixture
async def client(
    make_client: MakeClient, models: Path, tiny_model: Path, steering: dict[str, Any]
) -> Any:
    store = Store(models)
    build(store, models.parent / "src", "tiny-think", QWEN3_STYLE.format(model=tiny_model))
    build(store, models.parent / "src", "tiny-think-go", GO_THINK.format(model=tiny_model))
    planned = PlannedRunnerFactory()

    async def start(spec: LoadSpec, /, **kwargs: Any) -> RunnerHandle:
        return Steered(await planned(spec, **kwargs), steering)

    return await make_client(runner_factory=start)


def lines(response: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line]


def events(response: Any) -> list[dict[str, Any]]:
    blocks = response.text.split("\n\n")
    return [json.loads(b.removeprefix("data: ")) for b in blocks if b and b != "data: [DONE]"]


# -- /api/chat and /api/generate ------------------------------------------------------


async def test_chat_splits_thoughts_from_the_answer(client: Any) -> None:
    whole = await client.post(
        "/api/chat", json={"model": "tiny-think", "messages": HI, "stream": False}
    )
    assert whole.status_code == 200, whole.text
    message = whole.json()["message"]
    assert TEXT.fullmatch(message["thinking"]) and TEXT.fullmatch(message["content"])

    streamed = lines(await client.post("/api/chat", json={"model": "tiny-think", "messages": HI}))
    pieces = [line["message"] for line in streamed]
    assert "".join(p.get("thinking", "") for p in pieces) == message["thinking"]
    assert "".join(p["content"] for p in pieces) == message["content"]
    assert sum(1 for p in pieces if p.get("thinking")) > 1  # thoughts stream as they come
    assert all("<" not in p["content"] + p.get("thinking", "") for p in pieces)


async def test_an_unset_think_thinks_and_the_template_is_told(
    client: Any, steering: dict[str, Any]
) -> None:
    await client.post("/api/chat", json={"model": "tiny-think", "messages": HI, "stream": False})
    [prompt] = steering["prompts"]
    assert prompt.startswith("Reasoning: medium\n")  # Ollama sets an unset think to true
    assert prompt.endswith("<|im_start|>assistant\n<tool_call>")


async def test_think_false_reaches_the_template_and_nothing_is_split(
    client: Any, steering: dict[str, Any]
) -> None:
    body = {"model": "tiny-think", "messages": HI, "stream": False, "think": False}
    message = (await client.post("/api/chat", json=body)).json()["message"]
    assert steering["prompts"][0].endswith("<think>\n\n</think>\n\n<tool_call>")
    assert "thinking" not in message and message["content"].startswith("<think>")


async def test_generate_has_thinking_beside_its_response(client: Any) -> None:
    body = {"model": "tiny-think", "prompt": "hi", "think": "low", "stream": False}
    answer = (await client.post("/api/generate", json=body)).json()
    assert TEXT.fullmatch(answer["thinking"]) and TEXT.fullmatch(answer["response"])
    streamed = lines(await client.post("/api/generate", json={**body, "stream": True}))
    assert "".join(line.get("thinking", "") for line in streamed) == answer["thinking"]


async def test_a_go_template_that_opens_the_block_itself(
    client: Any, steering: dict[str, Any]
) -> None:
    steering["grammar"] = INSIDE_THEN_ANSWER
    for think, level in ((True, "medium"), ("high", "high")):
        body = {"model": "tiny-think-go", "messages": HI, "think": think, "stream": False}
        message = (await client.post("/api/chat", json=body)).json()["message"]
        assert steering["prompts"][-1].endswith(f"<|assistant|>({level})<think>")
        assert TEXT.fullmatch(message["thinking"]) and TEXT.fullmatch(message["content"])
    steering["grammar"] = THOUGHT_THEN_ANSWER
    body = {"model": "tiny-think-go", "messages": HI, "think": False, "stream": False}
    await client.post("/api/chat", json=body)
    assert steering["prompts"][-1].endswith("<|assistant|><think></think>")


async def test_an_earlier_answers_thinking_reaches_the_go_template(
    client: Any, steering: dict[str, Any]
) -> None:
    turns = [*HI, {"role": "assistant", "content": "yo", "thinking": "greet"}, *HI]
    await client.post("/api/chat", json={"model": "tiny-think-go", "messages": turns})
    assert "<|assistant|><think>greet</think>yo\n" in steering["prompts"][0]


@pytest.mark.parametrize("stream", [False, True])
async def test_a_call_after_the_thoughts_is_read(
    client: Any, steering: dict[str, Any], stream: bool
) -> None:
    steering["grammar"] = THOUGHT_THEN_CALL
    body = {"model": "tiny-think", "messages": HI, "tools": [NOW], "stream": stream}
    response = await client.post("/api/chat", json=body)
    pieces = [line["message"] for line in lines(response)]
    calls = [call for piece in pieces for call in piece.get("tool_calls", ())]
    assert calls == [{"function": {"name": "now", "arguments": {}}}]
    assert TEXT.fullmatch("".join(piece.get("thinking", "") for piece in pieces))
    assert "".join(piece["content"] for piece in pieces) == ""


# -- refusals and capabilities ---------------------------------------------------------


async def test_a_model_that_does_not_reason_refuses_think(client: Any) -> None:
    for path, field in (("/api/chat", {"messages": HI}), ("/api/generate", {"prompt": "hi"})):
        response = await client.post(path, json={"model": "tiny", "think": True, **field})
        assert response.status_code == 400
        assert response.json()["error"] == 'think: "tiny:latest" does not support thinking'
        response = await client.post(path, json={"model": "tiny", "think": False, **field})
        assert response.status_code == 200, response.text
    raw = {"model": "tiny", "prompt": "hi", "raw": True, "think": "high"}
    assert (await client.post("/api/generate", json=raw)).status_code == 400


async def test_openai_routes_name_the_effort_field_a_model_cannot_take(client: Any) -> None:
    chat = {"model": "tiny", "messages": HI}
    cases = (
        ("/v1/chat/completions", {**chat, "reasoning_effort": "high"}, "reasoning_effort"),
        ("/v1/chat/completions", {**chat, "reasoning": {"effort": "low"}}, "reasoning.effort"),
        ("/v1/completions", {"model": "tiny", "prompt": "hi", "reasoning_effort": "low"}, None),
    )
    for path, body, param in cases:
        response = await client.post(path, json=body)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["param"] == (param or "reasoning_effort")
        assert "does not support thinking" in error["message"]


async def test_a_format_waits_for_the_thoughts_to_end(
    client: Any, steering: dict[str, Any]
) -> None:
    """As Ollama, a thinking model thinks first and the format constrains the answer: the
    runner is asked to apply the grammar after ``</think>`` (or from the start, should
    the reply not open ``<think>``), and the thoughts are split off as ever (the test's
    grammar stands in for the reply)."""
    body = {"model": "tiny-think", "messages": HI, "format": "json", "stream": False}
    message = (await client.post("/api/chat", json=body)).json()["message"]
    assert steering["fences"] == [("</think>", "<think>")]
    assert TEXT.fullmatch(message["thinking"]) and TEXT.fullmatch(message["content"])
    body["think"] = False  # no thoughts: the grammar governs the whole reply
    await client.post("/api/chat", json=body)
    assert steering["fences"][-1] == (None, None)


@pytest.mark.parametrize("think", ["true", "extreme", 1, [True]])
async def test_a_think_ollama_does_not_take_is_a_400_naming_it(client: Any, think: Any) -> None:
    body = {"model": "tiny-think", "messages": HI, "think": think}
    response = await client.post("/api/chat", json=body)
    assert response.status_code == 400
    assert response.json()["error"].startswith("invalid request: think: ")


async def test_show_lists_the_thinking_capability(client: Any) -> None:
    for name, thinks in (("tiny-think", True), ("tiny-think-go", True), ("tiny", False)):
        shown = (await client.post("/api/show", json={"model": name})).json()
        assert ("thinking" in shown["capabilities"]) is thinks, name


# -- OpenAI ----------------------------------------------------------------------------


async def test_openai_chat_takes_reasoning_effort_and_returns_reasoning(
    client: Any, steering: dict[str, Any]
) -> None:
    body = {"model": "tiny-think", "messages": HI, "reasoning_effort": "high"}
    message = (await client.post("/v1/chat/completions", json=body)).json()["choices"][0]
    message = message["message"]
    assert steering["prompts"][0].startswith("Reasoning: high\n")
    assert TEXT.fullmatch(message["reasoning_content"]) and TEXT.fullmatch(message["content"])
    assert message["reasoning"] == message["reasoning_content"]

    chunks = events(await client.post("/v1/chat/completions", json={**body, "stream": True}))
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks if chunk["choices"]]
    thought = "".join(delta.get("reasoning_content", "") for delta in deltas)
    assert thought == message["reasoning_content"]
    assert "".join(delta.get("content") or "" for delta in deltas) == message["content"]
    assert not any("reasoning" in delta and delta.get("content") for delta in deltas)


async def test_reasoning_effort_none_turns_thinking_off(
    client: Any, steering: dict[str, Any]
) -> None:
    body = {"model": "tiny-think", "messages": HI, "reasoning": {"effort": "none"}}
    message = (await client.post("/v1/chat/completions", json=body)).json()["choices"][0]
    assert steering["prompts"][0].endswith("<think>\n\n</think>\n\n<tool_call>")
    assert "reasoning_content" not in message["message"]


async def test_openai_completions_return_reasoning_too(client: Any) -> None:
    body = {"model": "tiny-think", "prompt": "hi", "reasoning_effort": "minimal"}
    choice = (await client.post("/v1/completions", json=body)).json()["choices"][0]
    assert TEXT.fullmatch(choice["reasoning_content"]) and TEXT.fullmatch(choice["text"])


async def test_an_effort_openai_does_not_define_is_a_400_naming_it(client: Any) -> None:
    body = {"model": "tiny-think", "messages": HI, "reasoning_effort": "extreme"}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "reasoning_effort" and '"extreme"' in error["message"]
