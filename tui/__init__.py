"""The Textual chat app; it talks to the runtime only through runtime's HTTP client."""

from tui.app import ChatApp, make_app
from tui.workers import ChatClient

__all__ = ["ChatApp", "ChatClient", "make_app"]
