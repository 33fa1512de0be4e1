"""The image manifest (Docker image manifest v2, schema 2) and its descriptors.

Serialisation is canonical — compact JSON, fixed key order, no timestamps — so that the
manifest digest (the image ID) depends only on the image's content.
"""

from __future__ import annotations

import hashlib
import json
import re

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from builder.store import media_types
from ladle.errors import StoreError

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def check_digest(digest: str) -> str:
    """``digest`` itself when it is ``sha256:`` and 64 lower-case hex digits."""
    if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
        raise StoreError(
            f"invalid digest {digest!r}: expected sha256: and 64 lower-case hex digits"
        )
    return digest


def digest_of(data: bytes) -> str:
    """The digest of exactly these bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Descriptor(BaseModel):
    """A reference to a blob: its media type, digest and size in bytes."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    media_type: str = Field(alias="mediaType")
    digest: str
    size: int = Field(ge=0)

    @field_validator("digest")
    @classmethod
    def _valid_digest(cls, value: str) -> str:
        if not DIGEST.fullmatch(value):
            raise ValueError("expected sha256: and 64 lower-case hex digits")
        return value


class Manifest(BaseModel):
    """An image: one config blob and an ordered list of layers."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    schema_version: int = Field(2, alias="schemaVersion")
    media_type: str = Field(media_types.MANIFEST, alias="mediaType")
    config: Descriptor
    layers: tuple[Descriptor, ...]

    def to_bytes(self) -> bytes:
        """The canonical bytes of this manifest; its digest is the image ID."""
        data = self.model_dump(by_alias=True)
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> Manifest:
        """Parse manifest bytes; any problem is a ``StoreError`` naming ``where``."""
        try:
            manifest = cls.model_validate_json(data)
        except ValidationError as exc:
            problem = exc.errors()[0]
            location = ".".join(str(part) for part in problem["loc"]) or "document"
            raise StoreError(f"corrupt manifest {where}: {location}: {problem['msg']}") from None
        if manifest.schema_version != 2:
            raise StoreError(f"manifest {where} has schemaVersion {manifest.schema_version}, not 2")
        return manifest

    def layers_of(self, media_type: str) -> list[Descriptor]:
        """The layers of one media type, in order."""
        return [layer for layer in self.layers if layer.media_type == media_type]

    @property
    def size(self) -> int:
        """Bytes of every blob it references, config included, as ``ollama list`` counts."""
        return self.config.size + sum(layer.size for layer in self.layers)

    def blob_digests(self) -> list[str]:
        """Every blob this manifest references: config first, then layers."""
        return [self.config.digest, *(layer.digest for layer in self.layers)]
