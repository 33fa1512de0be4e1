"""ladle: build, store and serve local LLMs from declarative Modelfiles.

The public Python API is :func:`render_prompt` (from :mod:`builder.prompt`), imported
on first use so that ``import ladle`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from builder.prompt import render_prompt

__all__ = ["__version__", "render_prompt"]

__version__ = "0.1.0"
"""The one place the version is written: pyproject.toml reads it from here."""


def __getattr__(name: str) -> Any:
    """Import the public API lazily (PEP 562)."""
    if name == "render_prompt":
        from builder.prompt import render_prompt

        return render_prompt
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
