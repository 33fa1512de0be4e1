"""A projector GGUF read and checked: its type, and the width of the embeddings it gives.

The width must be the text model's embedding width, or llama.cpp refuses the pair when
it loads them (mtmd: "mismatch between text model (n_embd = ...) and mmproj (n_embd =
...)"); :func:`check_width` says so at build time. The width is read from the tensor
llama.cpp reads it from (``clip_n_mmproj_embd`` in ``tools/mtmd/clip.cpp``) for the
projector types listed in :data:`OUTPUT_TENSORS`; for other types the check is left to
the load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from builder.gguf.header import read_header
from builder.gguf.header_types import GGUFHeader
from ladle.errors import BuildInputError

PROJECTOR_ARCHITECTURE = "clip"

OUTPUT_TENSORS: dict[str, tuple[str, int]] = {
    "mlp": ("mm.2.weight", 1),
    "mlp_norm": ("mm.3.bias", 0),
    "pixtral": ("mm.2.weight", 1),
    "qwen2vl_merger": ("mm.2.bias", 0),
    "qwen2.5vl_merger": ("mm.2.bias", 0),
    "gemma3": ("mm.input_projection.weight", 0),
    "idefics3": ("mm.model.fc.weight", 1),
}
"""Projector type -> (tensor, dimension in ggml order) whose length is its output width."""


@dataclass(frozen=True)
class ProjectorFile:
    """A projector GGUF on disk, checked."""

    path: Path
    projector_type: str
    output_width: int | None
    """The width of the embeddings it gives; None for a type not in OUTPUT_TENSORS."""
    size: int
    header_digest: str
    header_bytes: int


def read_projector(path: Path) -> ProjectorFile | None:
    """The projector at ``path``, or None when the GGUF there is not a projector."""
    from builder.gguf.file import header_digest

    header, _ = read_header(path)
    if header.metadata.get("general.architecture") != PROJECTOR_ARCHITECTURE:
        return None
    kind = header.metadata.get("clip.projector_type") or header.metadata.get(
        "clip.vision.projector_type"
    )
    kind = kind if isinstance(kind, str) else "unknown"
    return ProjectorFile(
        path=path,
        projector_type=kind,
        output_width=_output_width(header, kind),
        size=header.file_size,
        header_digest=header_digest(path, header.data_offset),
        header_bytes=header.data_offset,
    )


def _output_width(header: GGUFHeader, kind: str) -> int | None:
    if kind not in OUTPUT_TENSORS:
        return None
    name, dim = OUTPUT_TENSORS[kind]
    for tensor in header.tensors:
        if tensor.name == name and dim < len(tensor.shape):
            return tensor.shape[dim]
    return None


def check_width(projector: ProjectorFile, model_width: int | None, reference: str) -> None:
    """Refuse a projector whose embeddings are not as wide as the model's."""
    width = projector.output_width
    if width is None or model_width is None or width == model_width:
        return
    raise BuildInputError(
        f"FROM {reference}: the projector gives embeddings {width} wide, but the model's "
        f"embedding width is {model_width}"
    )


def is_projector(path: Path) -> bool:
    """Whether the GGUF at ``path`` is a projector (its architecture is ``clip``)."""
    header, _ = read_header(path)
    return header.metadata.get("general.architecture") == PROJECTOR_ARCHITECTURE
