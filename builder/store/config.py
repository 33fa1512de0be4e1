"""The image config blob: Ollama's fields, plus ladle's record of how the image was made.

Ollama's ``ConfigV2`` fields (``model_format``, ``model_family``, ``model_families``,
``model_type``, ``file_type``, ``renderer``, ``parser``, ``requires``, ``rootfs``) keep
their names so Ollama reads ladle's images. Ollama also writes the build machine's OS and
CPU architecture; ladle does not, so that the same inputs give the same digest anywhere.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # gguf (and numpy) load only when a GGUF is read
    from builder.gguf.file import GGUFInfo


class RootFS(BaseModel):
    """The layer digests in order, as Docker and Ollama configs carry them."""

    model_config = ConfigDict(frozen=True)

    type: str = "layers"
    diff_ids: tuple[str, ...] = ()


class Provenance(BaseModel):
    """ladle's own record: where every input came from and which tools built it."""

    model_config = ConfigDict(frozen=True)

    parents: tuple[str, ...] = Field((), description="Manifest digests of the base images.")
    inputs: dict[str, str] = Field(
        default_factory=dict, description="Input name (FROM, ADAPTER, …) -> digest."
    )
    tools: dict[str, str] = Field(default_factory=dict, description="Tool -> version.")


class ImageConfig(BaseModel):
    """The config blob of an image."""

    model_config = ConfigDict(frozen=True, extra="allow")

    model_format: str = "gguf"
    model_family: str = ""
    model_families: tuple[str, ...] = ()
    model_type: str = ""
    file_type: str = ""
    context_length: int | None = None
    embedding_length: int | None = None
    capabilities: tuple[str, ...] = ()
    template_family: str | None = None
    renderer: str | None = None
    parser: str | None = None
    requires: str | None = None
    rootfs: RootFS = RootFS()
    ladle: Provenance | None = None

    def to_bytes(self) -> bytes:
        """Canonical JSON: fixed key order, unset optional fields left out."""
        data: dict[str, Any] = self.model_dump(exclude_none=True)
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def gguf_facts(info: GGUFInfo) -> dict[str, Any]:
    """The config fields a model GGUF determines."""
    return {
        "model_family": info.architecture,
        "model_families": (info.architecture,),
        "model_type": info.size_label or info.model_type,
        "file_type": info.file_type,
        "context_length": info.context_length,
        "embedding_length": info.embedding_length,
        "capabilities": tuple(info.capabilities),
    }
