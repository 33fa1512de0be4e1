"""OpenAI's ``tool_choice`` and ``parallel_tool_calls``: reading them, the grammar that
forces calls in each template family's form, and ``/v1/chat/completions`` over the tiny
model with a tool template (``tiny-tools``, whose template writes Hermes calls)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from builder.store.store import Store
from builder.templates.tool_calls import FORMATS, ToolCall, parser_for_format
from ladle.errors import InvalidFieldError
from runtime.api.service import Reply
from runtime.api.tool_choice import ToolChoice, calls_grammar, read_tool_choice

from .conftest import MakeClient, build

CHAT = "/v1/chat/completions"
USER = [{"role": "user", "content": "What is the weather in Paris?"}]
UNIT = {
    "type": "object",
    "properties": {"unit": {"enum": ["celsius", "fahrenheit"]}, "rain": {"type": "boolean"}},
    "required": ["unit", "rain"],
    "additionalProperties": False,
}
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "description": "The weather", "parameters": UNIT},
}
NOW = {"type": "function", "function": {"name": "now"}}
TOOLS = [WEATHER, NOW]


def forced(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name}}


# -- reading the fields ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "mode", "function"),
    [
        (None, "auto", None),
        ("auto", "auto", None),
        ("none", "none", None),
        ("required", "required", None),
        (forced("now"), "function", "now"),
        ({"type": "function", "name": "now"}, "function", "now"),  # the Responses API's form
    ],
)
def test_the_choices_openai_defines(value: Any, mode: str, function: str | None) -> None:
    choice = read_tool_choice(value, TOOLS, None)
    assert (choice.mode, choice.function, choice.parallel) == (mode, function, True)


@pytest.mark.parametrize(
    ("value", "tools", "says"),
    [
        ("sometimes", TOOLS, 'must be "auto", "none", "required"'),
        ({"type": "allowed_tools", "allowed_tools": {}}, TOOLS, "must be"),
        ({"type": "function", "function": {}}, TOOLS, "must be"),
        (forced("get_time"), TOOLS, "no function named 'get_time' in tools"),
        ("required", None, "needs function tools"),
        (forced("now"), [], "needs function tools"),
    ],
)
def test_a_choice_ladle_cannot_honour_names_tool_choice(
    value: Any, tools: list[dict[str, Any]] | None, says: str
) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        read_tool_choice(value, tools, None)
    assert refused.value.field == "tool_choice" and says in refused.value.reason


def test_none_leaves_the_tools_out_of_the_prompt() -> None:
    assert read_tool_choice("none", TOOLS, None).prompt_tools(TOOLS) is None
    assert read_tool_choice("auto", TOOLS, None).prompt_tools(TOOLS) == TOOLS
    assert read_tool_choice("auto", [], None).prompt_tools([]) is None


# -- the grammar -----------------------------------------------------------------------


def test_no_grammar_unless_a_call_is_forced() -> None:
    hermes = parser_for_format("hermes")
    assert read_tool_choice("auto", TOOLS, None).grammar(hermes) is None
    assert read_tool_choice("none", TOOLS, None).grammar(hermes) is None


@pytest.mark.parametrize("format_name", FORMATS)
def test_a_forced_call_is_written_as_the_format_reads_it(format_name: str) -> None:
    layout = parser_for_format(format_name).layout
    grammar = read_tool_choice(forced("get_weather"), TOOLS, None).grammar(
        parser_for_format(format_name)
    )
    assert grammar is not None and grammar.startswith("root ::= ")
    rules = dict(line.split(" ::= ", 1) for line in grammar.splitlines())
    assert len(rules) == len(grammar.splitlines())  # every rule defined once
    assert '"\\"get_weather\\""' in grammar and '"\\"now\\""' not in grammar
    assert f'"\\"{layout.arguments_key}\\""' in grammar
    assert "tool-call (" not in rules["root"]  # one call only


def test_required_admits_any_tool_and_several_calls_unless_parallel_is_off() -> None:
    hermes = parser_for_format("hermes")
    several = read_tool_choice("required", TOOLS, None).grammar(hermes)
    assert several is not None and '"\\"now\\""' in several and '"\\"get_weather\\""' in several
    assert several.startswith('root ::= tool-call ("\\n" tool-call)*\n')
    one = read_tool_choice("required", TOOLS, False).grammar(hermes)
    assert one is not None and one.startswith("root ::= tool-call\n")


def test_the_grammars_rule_names_do_not_clash_with_the_schemas() -> None:
    """A parameter named like ladle's own rules, and ``root`` referenced nowhere but the
    wrapper: the schema's rules are renamed, never redefined."""
    clashing = {
        "type": "object",
        "properties": {"tool-call": {"type": "boolean"}, "root": {"type": "boolean"}},
    }
    layout = parser_for_format("mistral").layout
    tool = {"type": "function", "function": {"name": "x", "parameters": clashing}}
    grammar = calls_grammar(layout, [tool], many=True)
    names = [line.split(" ::= ", 1)[0] for line in grammar.splitlines()]
    assert len(names) == len(set(names)) and names.count("root") == 1
    assert grammar.startswith('root ::= "[TOOL_CALLS] [" tool-call (", " tool-call)* "]"')


def test_parameters_that_are_not_a_schema_name_tools() -> None:
    tool = {"type": "function", "function": {"name": "x", "parameters": ["no"]}}
    with pytest.raises(InvalidFieldError) as refused:
        read_tool_choice("required", [tool], None).grammar(parser_for_format("json"))
    assert refused.value.field == "tools"


@pytest.mark.parametrize("format_name", FORMATS)
def test_the_layout_is_read_back_by_its_parser(format_name: str) -> None:
    parser = parser_for_format(format_name)
    calls = [ToolCall(name="get_weather", arguments={"unit": "celsius"}), ToolCall(name="now")]
    assert parser.parse(parser.layout.write(calls)).tool_calls == calls
    assert parser.parse(parser.layout.write(calls[:1])).tool_calls == calls[:1]


# -- parallel_tool_calls under "auto" ----------------------------------------------------


@pytest.mark.anyio
async def test_parallel_calls_off_keeps_the_first_call_only() -> None:
    first, second = ToolCall(name="now"), ToolCall(name="get_weather")

    async def replies() -> Any:
        yield Reply(text="Sure.")
        yield Reply(tool_calls=(first, second))
        yield Reply(text="more", tool_calls=(second,))

    kept = [reply async for reply in ToolChoice(parallel=False).limited(replies())]
    assert [(reply.text, reply.tool_calls) for reply in kept] == [
        ("Sure.", ()),
        ("", (first,)),
        ("more", ()),
    ]


# -- over HTTP -------------------------------------------------------------------------


def request(tool_choice: Any, **fields: Any) -> dict[str, Any]:
    return {
        "model": "tiny-tools",
        "messages": USER,
        "tools": TOOLS,
        "tool_choice": tool_choice,
        "max_tokens": 200,
        "temperature": 0,
        "seed": 7,
        **fields,
    }


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True])
async def test_a_forced_function_is_called_with_arguments_of_its_schema(
    make_client: MakeClient, stream: bool
) -> None:
    client = await make_client()
    response = await client.post(CHAT, json=request(forced("get_weather"), stream=stream))
    assert response.status_code == 200, response.text
    if stream:
        chunks = [
            json.loads(block.removeprefix("data: "))
            for block in response.text.split("\n\n")
            if block and block != "data: [DONE]"
        ]
        deltas = [chunk["choices"][0]["delta"] for chunk in chunks]
        calls = [call for delta in deltas for call in delta.get("tool_calls", ())]
        finish = chunks[-1]["choices"][0]["finish_reason"]
    else:
        message = response.json()["choices"][0]["message"]
        assert "tool_calls" in message, response.json()
        calls, finish = message["tool_calls"], response.json()["choices"][0]["finish_reason"]
    [call] = calls
    assert call["function"]["name"] == "get_weather" and finish == "tool_calls"
    arguments = json.loads(call["function"]["arguments"])
    assert arguments["unit"] in ("celsius", "fahrenheit") and isinstance(arguments["rain"], bool)
    assert set(arguments) == {"unit", "rain"}


@pytest.mark.anyio
async def test_required_answers_with_a_call(make_client: MakeClient) -> None:
    client = await make_client()
    body = (await client.post(CHAT, json=request("required", parallel_tool_calls=False))).json()
    [call] = body["choices"][0]["message"]["tool_calls"]
    assert call["function"]["name"] in ("get_weather", "now")
    assert body["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.anyio
async def test_none_answers_with_content_and_no_call(make_client: MakeClient) -> None:
    client = await make_client()
    body = (await client.post(CHAT, json=request("none", max_tokens=8))).json()
    message = body["choices"][0]["message"]
    assert message["content"] and "tool_calls" not in message


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fields", "says", "param"),
    [
        ({"tool_choice": forced("get_time")}, "no function named 'get_time'", "tool_choice"),
        ({"tool_choice": "always"}, "must be", "tool_choice"),
        ({"tool_choice": "required", "tools": None}, "needs function tools", "tool_choice"),
        ({"parallel_tool_calls": "maybe"}, "parallel_tool_calls", "parallel_tool_calls"),
    ],
)
async def test_a_choice_ladle_cannot_honour_is_a_400_naming_it(
    make_client: MakeClient, fields: dict[str, Any], says: str, param: str
) -> None:
    client = await make_client()
    for stream in (False, True):
        body = {**request("auto"), **fields, "stream": stream}
        response = await client.post(CHAT, json=body)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert says in error["message"] and error["param"] == param


FAMILY_TEMPLATES = {
    "mistral": "{% for m in messages %}[INST]{{ m.content }}[/INST]"
    "{% if m.tool_calls %}[TOOL_CALLS]{% endif %}{% endfor %}",
    "llama3": "{% if tools %}{{ tools | tojson }}{% endif %}{% for m in messages %}"
    "{{ m.content }}{% if m.tool_calls %}<|python_tag|>{% endif %}{% endfor %}",
    "json": "{% if tools %}{{ tools | tojson }}{% endif %}{% for m in messages %}"
    "{{ m.content }}{% endfor %}",
}


@pytest.mark.anyio
@pytest.mark.parametrize("format_name", sorted(FAMILY_TEMPLATES))
async def test_each_family_is_forced_into_its_own_form(
    make_client: MakeClient, models: Path, tiny_long_model: Path, tmp_path: Path, format_name: str
) -> None:
    """The grammar of every format loads in llama.cpp and its output parses as a call."""
    template = FAMILY_TEMPLATES[format_name]
    modelfile = f'FROM {tiny_long_model}\nPARAMETER num_ctx 1024\nTEMPLATE """{template}"""\n'
    build(Store(models), tmp_path / "src", "family", modelfile)
    client = await make_client()
    body = {**request(forced("get_weather")), "model": "family", "max_tokens": 300}
    answer = (await client.post(CHAT, json=body)).json()
    message = answer["choices"][0]["message"]
    assert "tool_calls" in message, answer
    [call] = message["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    assert set(json.loads(call["function"]["arguments"])) == {"unit", "rain"}


@pytest.mark.anyio
@pytest.mark.parametrize("parser", ["harmony", "glimmer"])
@pytest.mark.parametrize("choice", ["required", forced("get_weather")])
async def test_a_harmony_model_refuses_a_forced_call_naming_tool_choice(
    make_client: MakeClient,
    models: Path,
    tiny_model: Path,
    tmp_path: Path,
    choice: Any,
    parser: str,
) -> None:
    """gpt-oss (and Glimmer) write calls in messages of their own, which no grammar forces
    here: a forced call is a 400, never an answer that quietly may not call."""
    template = "{% for m in messages %}{{ m.content }}{% endfor %}"
    modelfile = f'FROM {tiny_model}\nTEMPLATE """{template}"""\nPARSER {parser}\n'
    build(Store(models), tmp_path / "src", "harmony", modelfile)
    client = await make_client()
    body = {**request(choice), "model": "harmony"}
    response = await client.post(CHAT, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "tool_choice" and "harmony" in error["message"]
    auto = await client.post(CHAT, json={**body, "tool_choice": "auto", "max_tokens": 2})
    assert auto.status_code == 200, auto.text
