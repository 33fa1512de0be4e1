"""The terminal chat's flows, driven by Textual's Pilot against :class:`FakeClient`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, TextArea

from tests.tui.fakes import FakeClient
from tests.tui.pilot import drive, loaded, notices, say, status, until
from tui import ChatApp, make_app
from tui.commands import SHOW_TOPICS
from tui.panel import SidePanel
from tui.picker import ModelPicker
from tui.prompt import PromptInput
from tui.widgets import AssistantMessage, ThinkingBlock, UserMessage


def test_an_answer_streams_into_the_transcript_as_markdown() -> None:
    client = FakeClient()
    app = make_app(client, "tiny")

    async def script(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        await say(pilot, "hi there")
        await until(pilot, lambda: not app.answering and len(app.history) == 2)
        assert [str(m.render()) for m in app.query(UserMessage)] == ["hi there"]
        await until(pilot, lambda: app.query_one(AssistantMessage).source == "Hello **world**")
        shown = status(app)
        assert "tiny" in shown and "100.0 tokens/s" in shown and "first token" in shown
        assert "context 80/256 (31%)" in shown  # prompt_eval_count + eval_count of num_ctx

    drive(app, script)
    assert client.calls == [("tiny", [{"role": "user", "content": "hi there"}], None)]
    assert app.history[-1] == {"role": "assistant", "content": "Hello **world**"}
    assert client.loads == ["tiny"]  # preloaded at start


def test_the_conversation_carries_the_system_message_parameters_and_format() -> None:
    client = FakeClient()
    app = make_app(client, "tiny")

    async def script(pilot: Pilot[None]) -> None:
        await say(pilot, "/set system You are terse.")
        await say(pilot, "/set parameter temperature 0.2")
        await say(pilot, "/set parameter num_ctx 512")
        await say(pilot, "one")
        await until(pilot, lambda: len(app.history) == 2)
        await say(pilot, "/set format json")
        await say(pilot, "two")
        await until(pilot, lambda: len(app.history) == 4)
        assert "/512" in status(app)  # the context the user chose
        await say(pilot, "/set noformat")
        await say(pilot, "three")
        await until(pilot, lambda: len(app.history) == 6)

    drive(app, script)
    _, messages, options = client.calls[1]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[0]["content"] == "You are terse."
    assert options == {"temperature": 0.2, "num_ctx": 512}
    assert client.formats == [None, "json", None]


def test_clear_forgets_the_conversation() -> None:
    app = make_app(FakeClient(), "tiny")

    async def script(pilot: Pilot[None]) -> None:
        await say(pilot, "hi")
        await until(pilot, lambda: len(app.history) == 2)
        await say(pilot, "/clear")
        await until(pilot, lambda: "Cleared the conversation." in notices(app))
        assert not app.query(UserMessage) and not app.query(AssistantMessage)
        assert app.history == []

    drive(app, script)


def test_help_and_bad_commands_answer_inline() -> None:
    app = make_app(FakeClient(), "tiny")

    async def script(pilot: Pilot[None]) -> None:
        await say(pilot, "/help")
        await say(pilot, "/nope")
        await say(pilot, "/set parameter warmth 3")
        await say(pilot, "/show everything")
        await until(pilot, lambda: len(notices(app)) == 4)
        help_text, unknown, parameter, show = notices(app)
        assert "/set parameter NAME VALUE" in help_text and "/save-chat FILE" in help_text
        assert "unknown command '/nope'" in unknown
        assert "unknown parameter 'warmth'" in parameter
        assert show.startswith("usage: /show info|modelfile")
        await pilot.press("f1")
        await until(pilot, lambda: len(notices(app)) == 5)

    drive(app, script)


def test_bye_and_ctrl_d_quit() -> None:
    for key in ("bye", "ctrl+d"):
        app = make_app(FakeClient(), "tiny")

        async def script(pilot: Pilot[None], key: str = key) -> None:
            if key == "bye":
                await say(pilot, "/bye")
            else:
                await pilot.press(key)
            await pilot.pause()

        drive(app, script)
        assert app.return_code == 0 and not app.is_running, key


@pytest.mark.parametrize("key", ["escape", "ctrl+c"])
def test_escape_and_ctrl_c_stop_a_slow_answer_and_close_the_stream(key: str) -> None:
    client = FakeClient(words=["word "] * 1000, delay=0.02)
    app = make_app(client, "tiny")

    async def script(pilot: Pilot[None]) -> None:
        await say(pilot, "talk forever")
        await until(pilot, lambda: "word" in app.query_one(AssistantMessage).source)
        await pilot.press(key)
        assert not app.answering
        await until(pilot, lambda: "Stopped." in notices(app))
        await until(pilot, client.closed.is_set)
        shown = app.query_one(AssistantMessage).source
        await pilot.pause(0.1)
        assert app.query_one(AssistantMessage).source == shown  # late pieces dropped
        assert "stopped" in status(app)
        assert app.history[-1] == {"role": "assistant", "content": shown}
        await say(pilot, "again")  # the chat goes on
        await until(pilot, lambda: app.answering)

    drive(app, script)


def test_a_server_that_is_down_is_an_inline_error_and_recoverable() -> None:
    client = FakeClient()
    app = make_app(client, "tiny")

    async def script(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        client.down = True
        await say(pilot, "hi")
        await until(pilot, lambda: bool(notices(app)))
        assert "is `ladle serve` running?" in notices(app)[0]
        assert app.history == [] and not app.answering and "failed" in status(app)
        client.down = False
        await say(pilot, "hi")
        await until(pilot, lambda: len(app.history) == 2)

    drive(app, script)


def test_a_busy_server_is_retried_with_backoff() -> None:
    client = FakeClient()
    client.busy = 2
    app = make_app(client, "tiny", retry_delays=(0.01, 0.02, 0.04))

    async def script(pilot: Pilot[None]) -> None:
        await say(pilot, "hi")
        await until(pilot, lambda: len(app.history) == 2)
        retries = [text for text in notices(app) if "busy" in text]
        assert len(retries) == 2
        assert "trying again in 0.01 s (try 2 of 4)" in retries[0]
        assert "trying again in 0.02 s (try 3 of 4)" in retries[1]

    drive(app, script)
    assert len(client.calls) == 3


def test_a_busy_server_that_says_when_to_retry_is_retried_then() -> None:
    client = FakeClient()
    client.busy, client.busy_retry_after = 1, 0.03
    app = make_app(client, "tiny", retry_delays=(5.0,))

    async def script(pilot: Pilot[None]) -> None:
        await say(pilot, "hi")
        await until(pilot, lambda: len(app.history) == 2)
        retries = [text for text in notices(app) if "busy" in text]
        assert len(retries) == 1 and "trying again in 0.03 s" in retries[0]

    drive(app, script)


def test_a_server_busy_past_every_retry_is_an_error_and_sending_again_retries() -> None:
    client = FakeClient()
    client.busy = 3
    app = make_app(client, "tiny", retry_delays=(0.01, 0.01))

    async def script(pilot: Pilot[None]) -> None:
        await say(pilot, "hi")
        await until(pilot, lambda: any(text.startswith("error:") for text in notices(app)))
        assert "busy" in notices(app)[-1] and app.history == []
        await say(pilot, "hi")
        await until(pilot, lambda: len(app.history) == 2)

    drive(app, script)


def test_an_unknown_model_is_reported_and_the_chat_keeps_its_model() -> None:
    client = FakeClient()
    app = make_app(client, "tiny")

    async def script(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        await say(pilot, "/load nope")
        await until(pilot, lambda: bool(notices(app)))
        assert notices(app)[-1] == "error: nope: model 'nope' not found"
        assert app.model == "tiny" and "load failed" in status(app)
        await say(pilot, "/load sre-bot")
        await until(pilot, lambda: app.model == "sre-bot" and app.loading is None)
        await say(pilot, "hi")
        await until(pilot, lambda: len(app.history) == 2)

    drive(app, script)
    assert client.calls[-1][0] == "sre-bot"


def test_a_model_that_does_not_exist_at_start_is_an_inline_error() -> None:
    app = make_app(FakeClient(), "nope")

    async def script(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: bool(notices(app)))
        assert "not found" in notices(app)[0]
        await say(pilot, "hi")
        await until(pilot, lambda: len(notices(app)) == 2)
        assert "not found" in notices(app)[1] and app.history == []

    drive(app, script)


def test_the_picker_lists_the_models_and_switches_to_the_chosen_one() -> None:
    client = FakeClient()
    app = make_app(client, None)

    async def script(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: bool(app.screen.query(OptionList)))
        assert isinstance(app.screen, ModelPicker)
        options = app.screen.query_one(OptionList)
        lines = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert lines[0].split() == ["tiny:latest", "1.2", "MB", "F32", "llama"]
        assert lines[1].split() == ["sre-bot:latest", "98", "MB", "Q4_1", "llama"]
        await pilot.press("down", "enter")
        await until(pilot, lambda: app.model == "sre-bot:latest" and app.loading is None)
        assert "sre-bot:latest" in status(app)
        await pilot.press("f3")
        await until(pilot, lambda: isinstance(app.screen, ModelPicker))
        await pilot.press("escape")  # keeps the current model
        await until(pilot, lambda: not isinstance(app.screen, ModelPicker))
        assert app.model == "sre-bot:latest"

    drive(app, script)
    assert client.loads == ["sre-bot:latest"]


def test_the_screen_stays_live_while_a_model_loads() -> None:
    client = FakeClient()
    gate = __import__("threading").Event()
    real_generate = client.generate

    def slow_generate(model: str, prompt: str, **kwargs: object):  # type: ignore[no-untyped-def]
        gate.wait(5)
        return real_generate(model, prompt)

    client.generate = slow_generate  # type: ignore[method-assign]
    app = make_app(client, "tiny")

    async def script(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.loading == "tiny")
        assert "loading tiny" in status(app)
        assert app.query_one("#status-row").has_class("loading")
        await pilot.press("h", "e", "y")  # typing works while the model loads
        assert app.query_one(PromptInput).text == "hey"
        gate.set()
        await loaded(pilot)
        assert not app.query_one("#status-row").has_class("loading")

    drive(app, script)


def test_show_answers_each_topic_from_the_server_and_the_session() -> None:
    app = make_app(FakeClient(), "tiny")
    shown: list[str] = []

    async def script(pilot: Pilot[None]) -> None:
        await say(pilot, "/set parameter temperature 0.1")
        for count, topic in enumerate(SHOW_TOPICS, 2):
            await say(pilot, f"/show {topic}")
            await until(pilot, lambda count=count: len(notices(app)) == count)
        shown.extend(notices(app)[1:])

    drive(app, script)
    info, modelfile, parameters, system, template, license_ = shown
    assert "architecture      llama" in info and "context length    2048" in info
    assert modelfile.startswith("FROM tiny")
    assert "User defined parameters:\n  temperature       0.1" in parameters
    assert "Model defined parameters:\nnum_ctx" in parameters
    assert system == "You are tiny." and template.startswith("{% for") and license_ == "MIT"


def test_save_creates_an_image_from_the_session() -> None:
    client = FakeClient()
    app = make_app(client, "tiny")

    async def script(pilot: Pilot[None]) -> None:
        await say(pilot, "/set system Be brief.")
        await say(pilot, "/set parameter temperature 0.1")
        await say(pilot, "hi")
        await until(pilot, lambda: len(app.history) == 2)
        await say(pilot, "/save tiny-2")
        await until(pilot, lambda: "Saved the session as tiny-2." in notices(app))
        assert "tiny-2: writing manifest" in notices(app)

    drive(app, script)
    assert client.creates == [
        (
            "tiny-2",
            {
                "from": "tiny",
                "system": "Be brief.",
                "parameters": {"temperature": 0.1},
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "Hello **world**"},
                ],
            },
        )
    ]


def test_save_reports_a_failure_inline() -> None:
    client = FakeClient()
    client.unknown = set()
    app = make_app(client, "tiny")

    async def script(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        client.unknown = {"tiny"}
        await say(pilot, "/save copy")
        await until(pilot, lambda: bool(notices(app)))
        assert notices(app)[-1] == "error: /save copy: model 'tiny' not found"

    drive(app, script)


def test_save_chat_then_load_chat_round_trips_the_conversation(tmp_path: Path) -> None:
    path = tmp_path / "chat.json"
    first = make_app(FakeClient(), "tiny")

    async def talk(pilot: Pilot[None]) -> None:
        await say(pilot, "/set system Be brief.")
        await say(pilot, "hi")
        await until(pilot, lambda: len(first.history) == 2)
        await say(pilot, f"/save-chat {path}")
        await until(pilot, lambda: f"Saved the conversation to {path}." in notices(first))

    drive(first, talk)
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["messages"][0] == {"role": "system", "content": "Be brief."}
    client = FakeClient()
    second = make_app(client, "tiny")

    async def resume(pilot: Pilot[None]) -> None:
        await say(pilot, f"/load-chat {path}")
        await until(pilot, lambda: f"Loaded 2 messages from {path}." in notices(second))
        assert [str(m.render()) for m in second.query(UserMessage)] == ["hi"]
        assert second.query_one(AssistantMessage).source == "Hello **world**"
        await say(pilot, "more")
        await until(pilot, lambda: len(second.history) == 4)

    drive(second, resume)
    assert second.session.system == "Be brief."
    assert client.calls[0][1][:3] == saved["messages"]


def test_load_chat_errors_are_inline_and_change_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"role": "user", "content": 3}]', encoding="utf-8")
    app = make_app(FakeClient(), "tiny")

    async def script(pilot: Pilot[None]) -> None:
        await say(pilot, "hi")
        await until(pilot, lambda: len(app.history) == 2)
        await say(pilot, f"/load-chat {bad}")
        await say(pilot, f"/load-chat {tmp_path / 'missing.json'}")
        await say(pilot, f"/save-chat {tmp_path / 'no' / 'dir.json'}")
        await until(pilot, lambda: len(notices(app)) == 3)
        broken, missing, unwritable = notices(app)
        assert "content is a number, not a string" in broken and str(bad) in broken
        assert missing.startswith("error: cannot read") and "No such file" in missing
        assert unwritable.startswith("error: cannot write")
        assert len(app.history) == 2

    drive(app, script)


def test_the_side_panel_edits_the_session() -> None:
    client = FakeClient()
    app = make_app(client, "tiny")

    async def script(pilot: Pilot[None]) -> None:
        await say(pilot, "/set parameter seed 7")
        await pilot.press("f2")
        panel = app.query_one(SidePanel)
        assert panel.has_class("shown")
        assert panel.query_one("#seed", Input).value == "7"  # shows what /set set
        await pilot.press(*"Be kind.")  # the system field has the focus
        panel.query_one("#temperature", Input).focus()
        await pilot.press("0", ".", "5")
        panel.query_one("#seed", Input).focus()
        await pilot.press("end", "backspace")  # empty: the model's own seed
        await pilot.press("f2")
        assert not panel.has_class("shown") and app.query_one(PromptInput).has_focus
        await say(pilot, "hi")
        await until(pilot, lambda: len(app.history) == 2)

    drive(app, script)
    assert app.session.system == "Be kind."
    _, messages, options = client.calls[0]
    assert messages[0] == {"role": "system", "content": "Be kind."}
    assert options == {"temperature": 0.5}


def test_the_side_panel_shows_a_loaded_chat(tmp_path: Path) -> None:
    path = tmp_path / "chat.json"
    path.write_text('[{"role": "system", "content": "From a file."}]', encoding="utf-8")
    app = make_app(FakeClient(), "tiny")

    async def script(pilot: Pilot[None]) -> None:
        await say(pilot, f"/load-chat {path}")
        await until(pilot, lambda: app.session.system == "From a file.")
        assert app.query_one("#system", TextArea).text == "From a file."

    drive(app, script)


def test_the_prompt_sends_multi_line_text_and_recalls_history() -> None:
    client = FakeClient()
    app: ChatApp = make_app(client, "tiny")

    async def script(pilot: Pilot[None]) -> None:
        prompt = app.query_one(PromptInput)
        await pilot.press("a", "ctrl+j", "b", "alt+enter", "c", "enter")
        await until(pilot, lambda: len(app.history) == 2)
        await pilot.press(*'"""', "enter", "x", "enter", "y", *'"""')
        assert prompt.text == '"""\nx\ny"""'
        await pilot.press("enter")
        await until(pilot, lambda: len(app.history) == 4)
        await pilot.press("up")
        assert prompt.text == "x\ny"
        await pilot.press("up")  # the cursor is on the last line: up moves it first
        await pilot.press("up")
        assert prompt.text == "a\nb\nc"
        await pilot.press("down")  # on the last line: the next message down
        assert prompt.text == "x\ny"
        await pilot.press("down")
        assert prompt.text == ""

    drive(app, script)
    assert [call[1][-1]["content"] for call in client.calls] == ["a\nb\nc", "x\ny"]


def test_the_prompt_completes_slash_commands() -> None:
    app = make_app(FakeClient(), "tiny")

    async def script(pilot: Pilot[None]) -> None:
        prompt = app.query_one(PromptInput)
        await pilot.press(*"/sh")
        assert prompt.suggestion == "ow info"
        await pilot.press("tab")
        assert prompt.text == "/show info"
        prompt.load_text("")
        await until(pilot, lambda: bool(prompt.models))
        await pilot.press(*"/load s")
        assert prompt.suggestion == "re-bot:latest"
        await pilot.press("right")
        assert prompt.text == "/load sre-bot:latest"

    drive(app, script)


def test_a_question_stopped_before_any_answer_leaves_the_history() -> None:
    client = FakeClient(delay=0.5)
    app = make_app(client, "tiny")

    async def script(pilot: Pilot[None]) -> None:
        await say(pilot, "never mind")
        await until(pilot, lambda: app.answering)
        await pilot.press("escape")
        await until(pilot, lambda: "Stopped." in notices(app))
        assert app.history == []
        client.delay = 0
        await say(pilot, "hi")
        await until(pilot, lambda: len(app.history) == 2)

    drive(app, script)
    assert [m["content"] for m in client.calls[-1][1]] == ["hi"]


def test_thinking_shows_collapsed_above_the_answer_and_set_think_sends_think() -> None:
    client = FakeClient(words=("Use", " lsof."))
    client.thoughts = ["The user wants", " a port's process."]
    app = make_app(client, "tiny")

    async def script(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        await say(pilot, "/set think high")
        await until(pilot, lambda: any("Thinking on (high)" in n for n in notices(app)))
        await say(pilot, "port 8080?")
        await until(pilot, lambda: not app.answering and len(app.history) == 2)
        block = app.query_one(ThinkingBlock)
        assert block.collapsed
        assert block.text == "The user wants a port's process."
        assert block.title.startswith("Thought for ") and "(6 words)" in block.title
        transcript = list(app.query_one("Transcript").children)
        assert transcript.index(block) == transcript.index(app.query_one(AssistantMessage)) - 1
        await say(pilot, "/set nothink")
        await say(pilot, "again")
        await until(pilot, lambda: not app.answering and len(app.history) == 4)

    drive(app, script)
    assert client.thinks == ["high", False]
    assert app.history[1] == {
        "role": "assistant",
        "content": "Use lsof.",
        "thinking": "The user wants a port's process.",
    }
