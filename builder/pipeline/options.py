"""How to build beyond what the Modelfile says: the options of ``ladle create`` and
``/api/create``, apart from the planner so that callers name them without planning."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ladle.settings import HubSettings


class BuildOptions(BaseModel):
    """How to build, beyond what the Modelfile says: ``ladle create``'s options."""

    model_config = ConfigDict(frozen=True)

    quantize: str | None = None
    """A type of :data:`builder.pipeline.quantize.TYPES` (any case) for the model weights."""
    requantize: bool = False
    """Allow quantizing weights that are quantized already (a warning says so)."""
    draft_quantize: str | None = None
    """A type of :data:`builder.pipeline.quantize.TYPES` for the DRAFT's weights (which must
    be unquantized, as Ollama's ``draft_quantize`` asks)."""
    draft_at: str | None = None
    """Where the Modelfile's DRAFT stands (``Modelfile:3:1``), named by its build errors."""
    hub: HubSettings | None = None
    """How to reach Hugging Face for ``FROM hf.co/…`` (the environment's when None)."""
