"""What a chat session is, apart from its screen: the model, the system message, the
options and format the user set, and the conversation. Pure, so that what ``/save``
sends and what ``/save-chat`` writes are tested without a terminal."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from builder.templates.conversation import parse_conversation
from tui.attachments import Attachment

Json = dict[str, Any]


@dataclass
class Session:
    """One conversation with one model (``/load`` switches the model, not the talk)."""

    model: str | None
    system: str | None = None
    options: Json = field(default_factory=dict)
    format: str | None = None
    think: bool | str | None = None
    """Ollama's ``think`` for the next answers (``None``: the model's default)."""
    history: list[Json] = field(default_factory=list)
    attached: list[Attachment] = field(default_factory=list)
    """Images for the next message (``/image``)."""

    def conversation(self) -> list[Json]:
        """The messages a chat request sends: the system message, then the history."""
        system = [{"role": "system", "content": self.system}] if self.system else []
        return system + self.history

    def create_request(self) -> Json:
        """``/save``'s ``/api/create`` body (without ``model``), as Ollama's REPL sends it:
        the current model as the base, the session's system message and parameters, and
        the conversation as the new image's MESSAGEs."""
        request: Json = {"from": self.model, "messages": list(self.history)}
        if self.system:
            request["system"] = self.system
        if self.options:
            request["parameters"] = dict(self.options)
        return request

    def chat_file(self) -> str:
        """``/save-chat``'s JSON: the format ``ladle render --messages`` reads, with the
        model alongside (the reader ignores keys other than ``messages``)."""
        return json.dumps({"model": self.model, "messages": self.conversation()}, indent=2) + "\n"

    def load_chat(self, text: str, origin: str) -> None:
        """Replace the conversation with a chat file's; a leading system message becomes
        the session's. Raises ConversationError (and changes nothing) when it is invalid."""
        messages = parse_conversation(text, origin)
        system = None
        if messages and messages[0]["role"] == "system":
            system = str(messages.pop(0)["content"]) or None
        self.history, self.system = messages, system
