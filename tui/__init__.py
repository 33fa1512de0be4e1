"""The Textual chat app; it talks to the runtime only through runtime's HTTP client."""
