"""The Textual chat app; it talks to the runtime only through runtime's HTTP client."""

from tui.app import ChatApp, ChatClient, make_app

__all__ = ["ChatApp", "ChatClient", "make_app"]
