"""Every media type ladle reads or writes, defined once.

Image layers use Ollama's media types, so that an Ollama store works with ladle and
images pushed by ladle work with Ollama; the one exception is the Jinja chat template,
which gets ladle's own type (an Ollama Go template layer is read and converted).
"""

from __future__ import annotations

# The Docker image manifest, version 2, schema 2, which Ollama's registry speaks.
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
"""Read from registries that speak OCI; ladle writes the Docker type."""
MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
"""Multi-platform indexes: not model images, refused by ``ladle pull``."""

MODEL = "application/vnd.ollama.image.model"
ADAPTER = "application/vnd.ollama.image.adapter"
PROJECTOR = "application/vnd.ollama.image.projector"
DRAFT = "application/vnd.ollama.image.draft"
"""A draft model for speculative decoding (Ollama's ``MediaTypeImageDraft``, manifest
package): a GGUF that shares the model's vocabulary."""
SYSTEM = "application/vnd.ollama.image.system"
PARAMS = "application/vnd.ollama.image.params"
MESSAGES = "application/vnd.ollama.image.messages"
LICENSE = "application/vnd.ollama.image.license"
GO_TEMPLATE = "application/vnd.ollama.image.template"
"""Ollama's Go template; ladle reads it (converting to Jinja) but never writes it."""
JINJA_TEMPLATE = "application/vnd.ladle.image.template.jinja"

TEXT_LAYERS = frozenset({SYSTEM, LICENSE, GO_TEMPLATE, JINJA_TEMPLATE})
JSON_LAYERS = frozenset({PARAMS, MESSAGES})
WEIGHT_LAYERS = frozenset({MODEL, ADAPTER, PROJECTOR, DRAFT})

MODEL_IMAGE_LAYERS = ("application/vnd.ollama.image.", "application/vnd.ladle.image.")
"""Prefixes of the layer types of a model image; a registry image with other layers (a
container image) is not one."""
