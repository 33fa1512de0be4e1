"""ladle's HTTP API: Ollama's ``/api`` and OpenAI's ``/v1`` routes over the scheduler.

``from runtime.api import create_app`` gives :func:`runtime.api.app.create_app`; it is
imported on first use, so that the middleware modules here load without the app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from runtime.api.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
