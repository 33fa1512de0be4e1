"""ladle: build, store and serve local LLMs from declarative Modelfiles.

This package is two things, at the two ends of the layers (docs/ARCHITECTURE.md):

- the **floor** every other package stands on: the error tree (:mod:`ladle.errors`),
  the settings read once from the environment (:mod:`ladle.settings`), durations
  (:mod:`ladle.keep_alive`), units, atomic writes, versions. These modules import no
  other ladle package;
- the **top**: the ``ladle`` command (:mod:`ladle.cli`) and the public Python API,
  :func:`render_prompt` (from :mod:`builder.pipeline.preview`) and
  :func:`check_modelfile` (from :mod:`builder.pipeline.check`), imported on first use
  so that ``import ladle`` stays light and the floor never imports what stands on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ladle.versions import __version__

if TYPE_CHECKING:
    from builder.pipeline.check import check_modelfile
    from builder.pipeline.preview import render_prompt

__all__ = ["__version__", "check_modelfile", "render_prompt"]


def __getattr__(name: str) -> Any:
    """Import the public API lazily (PEP 562)."""
    if name == "render_prompt":
        from builder.pipeline.preview import render_prompt

        return render_prompt
    if name == "check_modelfile":
        from builder.pipeline.check import check_modelfile

        return check_modelfile
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
