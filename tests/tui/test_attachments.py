"""``/image PATH`` and a dropped path attach an image to the next message, as a chip."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from textual.pilot import Pilot

from tests.fixtures.tiny_projector import png_bytes
from tests.tui.fakes import FakeClient
from tests.tui.pilot import drive, loaded, notices, say, until
from tui import make_app
from tui.attachments import AttachmentError, dropped_image, human_size, read_attachment
from tui.commands import AttachImage, Invalid, parse_command
from tui.widgets import UserMessage


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    path = tmp_path / "my cat.png"
    path.write_bytes(png_bytes(32, 32))
    return path


def test_the_command_takes_a_path_with_spaces() -> None:
    assert parse_command("/image ~/Pictures/my cat.png") == AttachImage("~/Pictures/my cat.png")
    assert parse_command("/image") == Invalid("usage: /image PATH")


def test_an_attachment_is_read_and_shown_as_a_chip(picture: Path) -> None:
    attachment = read_attachment(f"'{picture}'")
    assert base64.b64decode(attachment.data) == picture.read_bytes()
    assert attachment.chip == f"[image my cat.png {human_size(picture.stat().st_size)}]"
    assert dropped_image(f"'{picture}'") and not dropped_image("my cat.png is cute")


def test_what_is_not_an_image_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(AttachmentError, match="not a PNG, JPEG, WebP or GIF"):
        read_attachment(str(text))
    with pytest.raises(AttachmentError, match="no file at"):
        read_attachment(str(tmp_path / "missing.png"))


def test_the_next_message_carries_the_image(picture: Path) -> None:
    client = FakeClient()
    app = make_app(client, "tiny")

    async def script(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        await say(pilot, f"/image {picture}")
        assert any("[image my cat.png" in text for text in notices(app))
        await say(pilot, "what is this?")
        await until(pilot, lambda: not app.answering and len(app.history) == 2)
        shown = [str(message.render()) for message in app.query(UserMessage)]
        assert shown[0].startswith("[image my cat.png") and shown[0].endswith("what is this?")
        await say(pilot, str(picture))  # dropped into the input
        await say(pilot, "and now?")
        await until(pilot, lambda: not app.answering and len(app.history) == 4)
        await say(pilot, "no image")
        await until(pilot, lambda: not app.answering and len(app.history) == 6)

    drive(app, script)
    data = base64.b64encode(picture.read_bytes()).decode()
    sent = [messages[-1] for _, messages, _ in client.calls]
    assert sent[0] == {"role": "user", "content": "what is this?", "images": [data]}
    assert sent[1]["images"] == [data] and "images" not in sent[2]
