"""Images attached to the next message: ``/image PATH``, or a path dropped into the input.

An attachment is read here, at once (so that an error shows when it is attached, not
when the message is sent), told apart from other files by its first bytes (PNG, JPEG,
WebP, GIF: what the server reads), and sent base64 in the message's ``images``, as
Ollama's ``/api/chat`` takes them. The server decodes and checks it again (a file whose
magic bytes lie is refused there); here it is only recognised and capped in size.
The chat shows an attachment as a chip: its file name and size.
"""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass
from pathlib import Path

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
"""The largest image the server takes (runtime.api.vision's limit)."""

MAGIC = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
}


class AttachmentError(Exception):
    """A file that cannot be attached; the message says why."""


@dataclass(frozen=True)
class Attachment:
    """An image to send with the next message."""

    name: str
    size: int
    data: str
    """The file's bytes, base64."""

    @property
    def chip(self) -> str:
        """How the chat shows it: ``[image cat.png 12.3 KB]``."""
        return f"[image {self.name} {human_size(self.size)}]"


def read_attachment(text: str) -> Attachment:
    """The image at the path ``text`` (``~`` expanded; quotes, as a terminal adds to a
    dropped path, removed)."""
    path = Path(_unquoted(text)).expanduser()
    try:
        if not path.is_file():
            raise AttachmentError(f"no file at {path}")
        size = path.stat().st_size
        if size > MAX_ATTACHMENT_BYTES:
            raise AttachmentError(f"{path.name} is {human_size(size)}; the limit is 20 MB")
        data = path.read_bytes()
    except OSError as error:
        raise AttachmentError(f"cannot read {path}: {error.strerror or error}") from None
    if image_format(data) is None:
        raise AttachmentError(f"{path.name} is not a PNG, JPEG, WebP or GIF image")
    return Attachment(path.name, len(data), base64.b64encode(data).decode("ascii"))


def dropped_image(text: str) -> bool:
    """Whether a submitted line is only the absolute path of an image file (a terminal
    pastes a dragged file's path, often quoted); checked before slash commands."""
    line = text.strip()
    if not line or "\n" in line:
        return False
    path = Path(_unquoted(line)).expanduser()
    return path.is_absolute() and path.is_file() and _looks_like_image(path)


def _looks_like_image(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return image_format(file.read(16)) is not None
    except OSError:
        return False


def image_format(data: bytes) -> str | None:
    """PNG, JPEG, WEBP or GIF by the first bytes; None for anything else."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((kind for magic, kind in MAGIC.items() if data.startswith(magic)), None)


def _unquoted(text: str) -> str:
    text = text.strip()
    try:
        parts = shlex.split(text)
    except ValueError:
        return text
    return parts[0] if len(parts) == 1 else text


def human_size(size: int) -> str:
    """``size`` bytes as people read it: 512 B, 12.3 KB, 4.1 MB."""
    if size < 1000:
        return f"{size} B"
    if size < 1000**2:
        return f"{size / 1000:.1f} KB"
    return f"{size / 1000**2:.1f} MB"


def user_message(text: str, attached: list[Attachment]) -> tuple[dict[str, object], str]:
    """The chat message for ``text`` with the ``attached`` images, and what the transcript
    shows for it (the chips, then the text)."""
    message: dict[str, object] = {"role": "user", "content": text}
    if attached:
        message["images"] = [attachment.data for attachment in attached]
    return message, "\n".join([*(attachment.chip for attachment in attached), text])
