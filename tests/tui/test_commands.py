"""The pure parts of the chat: slash commands, completion, the session's requests and
files, and the prompt's ``\"\"\"`` blocks."""

from __future__ import annotations

import json

import pytest

from builder.templates.conversation import parse_conversation
from ladle.errors import ConversationError
from tui.commands import (
    Bye,
    Clear,
    Help,
    Invalid,
    Load,
    LoadChat,
    Save,
    SaveChat,
    SetFormat,
    SetParameter,
    SetSystem,
    SetThink,
    Show,
    parse_command,
    suggest,
)
from tui.prompt import in_open_block, unfenced
from tui.session import Session
from tui.workers import context_length, model_rows, same_model


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("hello /bye", None),
        (" /bye ", Bye()),
        ("/exit", Bye()),
        ("/clear", Clear()),
        ("/?", Help()),
        ("/set system Be brief. Very.", SetSystem("Be brief. Very.")),
        ("/set parameter top_k 40", SetParameter("top_k", 40)),
        ("/set parameter temperature 0.1", SetParameter("temperature", 0.1)),
        ("/set parameter stop </s>", SetParameter("stop", "</s>")),
        ("/set format json", SetFormat("json")),
        ("/set noformat", SetFormat(None)),
        ("/set think", SetThink(True)),
        ("/set think on", SetThink(True)),
        ("/set think OFF", SetThink(False)),
        ("/set think high", SetThink("high")),
        ("/set nothink", SetThink(False)),
        ("/show modelfile", Show("modelfile")),
        ("/load", Load(None)),
        ("/load sre-bot:latest", Load("sre-bot:latest")),
        ("/save sre-bot-2", Save("sre-bot-2")),
        ("/save-chat ~/chat.json", SaveChat("~/chat.json")),
        ("/load-chat chat.json", LoadChat("chat.json")),
    ],
)
def test_slash_commands_parse(line: str, command: object) -> None:
    assert parse_command(line) == command


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("/set parameter top_k", "usage: /set parameter"),
        ("/set parameter warmth 1", "unknown parameter 'warmth'"),
        ("/set", "usage: /set parameter"),
        ("/set format yaml", "/set format takes json"),
        ("/set think hard", "/set think takes one of: on, true, off"),
        ("/show", "usage: /show info|"),
        ("/save", "usage: /save NAME"),
        ("/save two words", "usage: /save NAME"),
        ("/frobnicate", "unknown command '/frobnicate'"),
    ],
)
def test_bad_slash_commands_say_why(line: str, reason: str) -> None:
    command = parse_command(line)
    assert isinstance(command, Invalid) and command.reason.startswith(reason), command


def test_completion_suggests_the_rest_of_a_command() -> None:
    assert suggest("/se") == "t parameter "
    assert suggest("/set parameter te") == "mperature "
    assert suggest("/show t") == "emplate"
    assert suggest("/load t", ["tiny:latest"]) == "iny:latest"
    assert suggest("/bye") == "" and suggest("hello") == "" and suggest("/x\ny") == ""


def test_triple_quotes_open_and_close_a_block() -> None:
    assert in_open_block('"""') and in_open_block('"""\nfirst line')
    assert not in_open_block('"""\ntwo\nlines"""') and not in_open_block("plain")
    assert unfenced('"""\ntwo\nlines\n"""') == "two\nlines"
    assert unfenced("plain") == "plain"


def test_save_sends_ollamas_create_request() -> None:
    session = Session("sre-bot", system="Be brief.", options={"temperature": 0.1})
    session.history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    assert session.create_request() == {
        "from": "sre-bot",
        "system": "Be brief.",
        "parameters": {"temperature": 0.1},
        "messages": session.history,
    }
    assert Session("tiny").create_request() == {"from": "tiny", "messages": []}


def test_a_saved_chat_is_what_ladle_render_reads_and_loads_back() -> None:
    session = Session("tiny", system="Be brief.")
    session.history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    text = session.chat_file()
    assert parse_conversation(text, "chat.json") == session.conversation()
    again = Session("other")
    again.load_chat(text, "chat.json")
    assert (again.system, again.history) == (session.system, session.history)


def test_a_bad_chat_file_changes_nothing() -> None:
    session = Session("tiny", system="Keep me.")
    session.history = [{"role": "user", "content": "hi"}]
    with pytest.raises(ConversationError, match=r"chat\.json: .*message 1 has no role"):
        session.load_chat(json.dumps([{"content": "x"}]), "chat.json")
    with pytest.raises(ConversationError, match="not JSON"):
        session.load_chat("{", "chat.json")
    assert session.system == "Keep me." and len(session.history) == 1


def test_the_context_comes_from_the_loaded_model() -> None:
    loaded = [
        {"name": "other:latest", "context_length": 8},
        {"name": "tiny:latest", "context_length": 256},
    ]
    assert context_length(loaded, "tiny") == 256
    assert context_length(loaded, "gone") is None
    assert same_model("library/tiny", "library/tiny:latest")
    assert not same_model("tiny:a", "tiny:b")


def test_the_picker_rows_line_up() -> None:
    rows = model_rows(
        [
            {
                "name": "a:latest",
                "size": 5,
                "details": {"family": "llama", "quantization_level": "F16"},
            },
            {"name": "long-name:latest", "size": 98_000_000, "details": None},
        ]
    )
    assert rows[0] == ("a:latest", "a:latest          5 B    F16  llama")
    assert rows[1] == ("long-name:latest", "long-name:latest  98 MB")
