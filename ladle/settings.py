"""ladle's settings, read from the environment once, here and nowhere else."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict

DEFAULT_MODELS = Path("~/.ladle/models")


class Settings(BaseModel):
    """Every environment-dependent setting; passed down, never read again."""

    model_config = ConfigDict(frozen=True)

    models: Path
    """``LADLE_MODELS``: the model store (an Ollama store such as ~/.ollama/models works)."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(models=Path(env.get("LADLE_MODELS") or DEFAULT_MODELS).expanduser())
