"""The layers a build plan names: an existing blob, text to write, or weights to import.

Kept apart from :mod:`builder.pipeline.plan` so that the planner's helpers
(:mod:`builder.pipeline.draft`) describe layers without importing the planner.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from builder.sources.bundled import BundledWeights


class WeightsSource(BaseModel):
    """Weights to copy into the store: a file, or bundled package files joined."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["file", "package"]
    reference: str
    paths: tuple[str, ...]
    size: int
    digest: str | None = None
    header_digest: str | None = None
    """Of the GGUF header checked while planning; the copy must match it."""
    header_bytes: int = 0

    @classmethod
    def checked_file(
        cls, reference: str, path: Path, header_digest: str | None, header_bytes: int
    ) -> WeightsSource:
        """A GGUF file whose header was read while planning (the copy must match it)."""
        size = path.stat().st_size
        return cls(
            kind="file",
            reference=reference,
            paths=(str(path),),
            size=size,
            header_digest=header_digest,
            header_bytes=header_bytes,
        )

    @classmethod
    def of_package(cls, reference: str, weights: BundledWeights) -> WeightsSource:
        """Bundled weights, perhaps split across packages (joined as they are copied)."""
        return cls(
            kind="package",
            reference=reference,
            paths=tuple(str(path) for path in weights.paths()),
            size=weights.size(),
            digest=weights.digest,
        )


class LayerPlan(BaseModel):
    """One layer: an existing blob, text to write, or weights to import."""

    model_config = ConfigDict(frozen=True)

    media_type: str
    digest: str | None = None
    size: int | None = None
    text: str | None = None
    weights: WeightsSource | None = None
