"""Glimmer's replies (:mod:`builder.templates.glimmer`, :mod:`builder.templates.glimmer_atem`)
read by :class:`~builder.templates.reply_stream.ReplyStream` with ``PARSER glimmer``: the
behaviours of Ollama's ``model/parsers/glimmer_test.go``. Every reply is also read cut
in two at each place, and one character at a time: the result is the same."""

from __future__ import annotations

import random
from typing import Any

import pytest

from builder.templates.glimmer import TOKENS, GlimmerStream
from builder.templates.glimmer_atem import resolve_tool
from builder.templates.parsers import parser_named
from builder.templates.reply_stream import ReplyPart, ReplyStream

GLIMMER = parser_named("glimmer")
PROMPT = "<|start|>user<|message|>Hi<|eot|><|start|>assistant"

Read = tuple[str, str, list[tuple[str, dict[str, Any]]]]
"""A reply's reasoning, answer and calls (name, arguments)."""


def tool(name: str, **properties: Any) -> dict[str, Any]:
    """A request's tool ``name`` whose parameters have the JSON schemas ``properties``."""
    parameters = {"type": "object", "properties": properties}
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


def atem(name: str, parameters: str = "") -> str:
    """The ATEM block the chat template teaches, invoking ``name``."""
    return (
        f'<atem:function_calls>\n<atem:invoke name="{name}">\n{parameters}</atem:invoke>\n'
        "</atem:function_calls>"
    )


def param(name: str, value: str) -> str:
    return f'<atem:parameter name="{name}">{value}</atem:parameter>\n'


def read_chunks(chunks: list[str], tools: list[dict[str, Any]] | None, think: bool) -> Read:
    stream = ReplyStream(GLIMMER, think=think, prompt=PROMPT, schemas=tools)
    parts = [stream.feed(chunk) for chunk in chunks] + [stream.finish()]
    return joined(parts)


def joined(parts: list[ReplyPart]) -> Read:
    thinking = "".join(part.thinking for part in parts)
    content = "".join(part.content for part in parts)
    return thinking, content, [(c.name, c.arguments) for part in parts for c in part.tool_calls]


def read(reply: str, tools: list[dict[str, Any]] | None = None, *, think: bool = True) -> Read:
    """``reply`` read whole, after checking it reads the same however it is cut."""
    whole = read_chunks([reply], tools, think)
    for cut in range(len(reply) + 1):
        assert read_chunks([reply[:cut], reply[cut:]], tools, think) == whole, f"cut at {cut}"
    assert read_chunks(list(reply), tools, think) == whole
    return whole


WEATHER = tool("get_weather", city={"type": "string"})
READ = tool("read", path={"type": "string"})
BASH = tool("muse.bash", command={"type": "string"})


def test_the_parser_reads_glimmer_whole() -> None:
    assert GLIMMER.thinks and GLIMMER.takes_tools(None, None)
    assert GLIMMER.markup == TOKENS == ("<|start|>", "<|message|>", "<|eom|>", "<|eot|>")
    assert GLIMMER.tool_parser(None, None, [WEATHER]) is None  # it reads its own calls


def test_an_answer() -> None:
    assert read(" to=user<|message|>Hello") == ("", "Hello", [])
    assert read(" to=user<|message|>Hello<|eot|>") == ("", "Hello", [])


def test_a_message_to_self_is_reasoning() -> None:
    assert read(" to=self<|message|>Check the facts.") == ("Check the facts.", "", [])


@pytest.mark.parametrize(("think", "thinking"), [(True, "Check the facts."), (False, "")])
def test_reasoning_is_dropped_when_the_request_does_not_think(think: bool, thinking: str) -> None:
    reply = (
        " to=self<|message|>Check the facts.<|eom|>"
        "<|start|>assistant to=user<|message|>Answer<|eot|>"
    )
    assert read(reply, think=think) == (thinking, "Answer", [])


def test_a_call() -> None:
    reply = " to=get_weather<|message|>" + atem("get_weather", param("city", "SF")) + "<|eot|>"
    assert read(reply, [WEATHER]) == ("", "", [("get_weather", {"city": "SF"})])


def test_values_are_typed_by_the_tools_schema_and_keep_their_blanks() -> None:
    run = tool(
        "tools.run",
        text={"type": "string"},
        count={"type": "integer"},
        enabled={"type": "boolean"},
        items={"type": "array"},
        config={"type": "object"},
        choice={"anyOf": [{"type": "null"}, {"type": "string"}]},
        note={"type": "string"},
    )
    values = (
        param("text", " keep  spaces ")
        + param("count", "3")
        + param("enabled", "true")
        + param("items", '["one", "two"]')
        + param("config", '{"mode":"fast"}')
        + param("choice", "null")
        + param("note", "\nspans\nlines\n")
        + param("undeclared", "7")
    )
    _, _, calls = read(" to=tools.run<|message|>" + atem("tools.run", values), [run])
    assert calls == [
        (
            "tools.run",
            {
                "text": " keep  spaces ",
                "count": 3,
                "enabled": True,
                "items": ["one", "two"],
                "config": {"mode": "fast"},
                "choice": None,
                "note": "\nspans\nlines\n",
                "undeclared": "7",
            },
        )
    ]


@pytest.mark.parametrize(
    "value",
    ["literal <|eot|> and <|start|>assistant to=user<|message|> text", "keep <|message|> literal"],
)
def test_a_value_may_hold_control_token_text(value: str) -> None:
    echo = tool("echo", text={"type": "string"})
    reply = " to=echo<|message|>" + atem("echo", param("text", value)) + "<|eot|>"
    assert read(reply, [echo]) == ("", "", [("echo", {"text": value})])


def test_several_messages_in_order() -> None:
    first, second = tool("first", x={"type": "integer"}), tool("second")
    reply = (
        " to=self<|message|>Think<|eom|>"
        f"<|start|>assistant to=first<|message|>{atem('first', param('x', '1'))}<|eom|>"
        f"<|start|>assistant to=second<|message|>{atem('second')}<|eot|>"
    )
    assert read(reply, [first, second]) == ("Think", "", [("first", {"x": 1}), ("second", {})])


@pytest.mark.parametrize(
    "invoke",
    [
        'read<|message|>">',  # the header's token slipped into the name
        "read<|message|>",  # ... in place of the name's end
        're<|message|>ad">',
        'read<|message|><|message|>">',
    ],
)
def test_a_message_token_slipped_into_the_invoked_name_is_no_part_of_it(invoke: str) -> None:
    block = (
        f'<atem:function_calls>\n<atem:invoke name="{invoke}{param("path", "go.mod")}'
        "</atem:invoke>\n</atem:function_calls>"
    )
    assert read(f" to=read<|message|>{block}<|eot|>", [READ]) == (
        "",
        "",
        [("read", {"path": "go.mod"})],
    )


@pytest.mark.parametrize(
    ("recipient", "invoked"),
    [("read", "read.read"), ("read.read", "read.read"), ("read.read", "read")],
)
def test_a_tool_may_be_addressed_in_its_own_namespace(recipient: str, invoked: str) -> None:
    reply = f" to={recipient}<|message|>{atem(invoked, param('path', 'go.mod'))}<|eot|>"
    assert read(reply, [READ]) == ("", "", [("read", {"path": "go.mod"})])


def test_only_a_tools_own_namespace_resolves() -> None:
    tools: dict[str, dict[str, tuple[str, ...]]] = {"read": {}, "repo.read": {}}
    assert resolve_tool(tools, "read") == "read"
    assert resolve_tool(tools, "read.read") == "read"
    assert resolve_tool(tools, "repo.read") == "repo.read"
    assert resolve_tool(tools, "repo.repo.read") == "repo.read"
    assert resolve_tool(tools, "functions.read") is None
    assert resolve_tool(tools, "write.write") is None


@pytest.mark.parametrize(
    "body",
    [
        atem("read_file"),  # the block calls another tool than the recipient
        '{"city":"SF"}',  # no block at all
        atem("get_weather", '<atem:parameter name="city">SF'),  # an unclosed value
    ],
)
def test_a_call_that_does_not_read_stays_in_the_answer(body: str) -> None:
    """Ollama fails such a request; ladle shows the text, as for other formats."""
    assert read(f" to=get_weather<|message|>{body}<|eot|>", [WEATHER]) == ("", body, [])


def test_a_block_that_never_closes_ends_its_message_at_its_end_token() -> None:
    reply = (
        ' to=get_weather<|message|>{"city":"SF"}<|eom|>'
        "<|start|>assistant to=user<|message|>Done<|eot|>"
    )
    assert read(reply, [WEATHER]) == ("", '{"city":"SF"}Done', [])


COMMAND = atem("muse.bash", param("command", "pwd && ls -la"))


@pytest.mark.parametrize(
    ("reply", "thinking", "content"),
    [
        (f" to=muse<|message|>{COMMAND}<|eom|>", "", ""),  # the namespace
        (f"<|message|>{COMMAND}<|eom|>", "", ""),  # no recipient
        (f" to=user<|message|>{COMMAND}<|eot|>", "", ""),
        (f" to=atem:function_calls<|message|>{COMMAND}<|eom|>", "", ""),
        (
            f" to=self<|message|>let me look<|eom|><|start|>assistant<|message|>{COMMAND}<|eom|>",
            "let me look",
            "",
        ),
        (f"<|message|>{COMMAND}<|start|>assistant to=user<|message|>Done<|eot|>", "", "Done"),
    ],
)
def test_a_call_under_a_fumbled_header_is_still_a_call(
    reply: str, thinking: str, content: str
) -> None:
    call = ("muse.bash", {"command": "pwd && ls -la"})
    assert read(reply, [BASH]) == (thinking, content, [call])


@pytest.mark.parametrize(
    ("reply", "tools", "content"),
    [
        (f" to=user<|message|>{atem('other.run')}<|eot|>", [BASH], atem("other.run")),
        (f" to=user<|message|>Running:\n{COMMAND}<|eot|>", [BASH], f"Running:\n{COMMAND}"),
        (f" to=user<|message|>{COMMAND}\nDone.<|eot|>", [BASH], f"{COMMAND}\nDone."),
        (f" to=user<|message|>{COMMAND}<|eot|>", None, COMMAND),
        (f" to=not_a_tool<|message|>{atem('not_a_tool')}", None, atem("not_a_tool")),
    ],
)
def test_an_answer_that_only_resembles_a_call_stays_an_answer(
    reply: str, tools: list[dict[str, Any]] | None, content: str
) -> None:
    assert read(reply, tools) == ("", content, [])


def test_a_message_ends_where_the_next_header_starts() -> None:
    reply = (
        " to=self<|message|>Think"
        f"<|start|>assistant to=get_weather<|message|>{atem('get_weather', param('city', 'SF'))}"
        "<|start|>assistant to=user<|message|>Done<|eot|>"
    )
    assert read(reply, [WEATHER]) == ("Think", "Done", [("get_weather", {"city": "SF"})])


@pytest.mark.parametrize("recipient", ["user", "self"])
def test_text_that_only_looks_like_a_header_stays_in_its_message(recipient: str) -> None:
    text = "Use `<|start|>` here, or <|start|>assistant to=nobody<|message|>."
    thinking, content, _ = read(f" to={recipient}<|message|>{text}")
    assert (thinking or content) == text


def test_the_answer_streams_and_an_end_token_cut_in_two_is_held() -> None:
    stream = ReplyStream(GLIMMER, think=True, prompt=PROMPT)
    assert stream.feed(" to=user<|message|>Hel") == ReplyPart(content="Hel")
    assert stream.feed("lo<|eo") == ReplyPart(content="lo")
    assert stream.feed("t|>") == ReplyPart()
    assert stream.finish() == ReplyPart()


def test_what_may_be_a_call_is_held_until_its_message_ends() -> None:
    stream = ReplyStream(GLIMMER, think=True, prompt=PROMPT, schemas=[BASH])
    assert stream.feed(f"<|message|>{COMMAND}") == ReplyPart()
    assert stream.feed("<|eom|><|start|>assistant to=self<|message|>ok") == ReplyPart("ok")
    call = stream.finish().tool_calls[0]
    assert (call.name, call.arguments) == ("muse.bash", {"command": "pwd && ls -la"})


def test_a_reply_without_headers_is_the_answer_as_written() -> None:
    """A runner that did not show the control tokens leaves none to read by."""
    assert read("Just text, no header.") == ("", "Just text, no header.", [])


def test_without_the_requests_tools_a_call_is_text() -> None:
    body = atem("get_weather", param("city", "SF"))
    assert read(f" to=get_weather<|message|>{body}<|eot|>") == ("", body, [])


def test_any_text_is_read_without_error_and_calls_only_declared_tools() -> None:
    """Ollama's fuzzing of its parser, as random runs of the format's pieces."""
    pieces = [
        "<|start|>", "assistant", " to=", "echo", "self", "user", "<|message|>", "<|eom|>",
        "<|eot|>", atem("echo", param("text", "v")), atem("other"), "<atem:function_calls>",
        param("text", "w"), "text ", "\n", "<", "|",
    ]  # fmt: skip
    chooser = random.Random(17)
    for _ in range(300):
        reply = "".join(chooser.choice(pieces) for _ in range(chooser.randint(1, 12)))
        cut = chooser.randint(0, len(reply))
        stream = GlimmerStream.for_tools([tool("echo", text={"type": "string"})], thinking=True)
        stream.feed(reply[:cut])
        stream.feed(reply[cut:])
        stream.finish()
        assert all(call.name == "echo" for call in stream.tool_calls), reply
