"""ladle: build, store and serve local LLMs from declarative Modelfiles.

The public Python API is :func:`render_prompt` (from :mod:`builder.prompt`), imported
on first use so that ``import ladle`` stays light.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from builder.prompt import render_prompt

__all__ = ["__version__", "render_prompt"]

try:
    __version__ = version("ladle")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"


def __getattr__(name: str) -> Any:
    """Import the public API lazily (PEP 562)."""
    if name == "render_prompt":
        from builder.prompt import render_prompt

        return render_prompt
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
