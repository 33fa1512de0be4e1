"""Reading an image back: its config, weights and small layers, verified."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.store import media_types
from builder.store.config import ImageConfig
from builder.store.names import ModelName
from builder.store.store import Store, StoredImage
from builder.templates.tool_calls import parser_for_family
from modelfile.quoting import quote


@dataclass(frozen=True)
class Image:
    """An image as the runtime and ``ladle show`` see it."""

    stored: StoredImage
    config: ImageConfig
    model_path: Path
    adapter_paths: tuple[Path, ...]
    template: str | None
    system: str | None
    params: dict[str, Any]
    messages: tuple[dict[str, Any], ...]
    licenses: tuple[str, ...]

    @classmethod
    def load(cls, store: Store, name: ModelName) -> Image:
        """Read the image tagged ``name``; small layers are verified against their digests."""
        return cls.read(store, store.get(name))

    @classmethod
    def read(cls, store: Store, stored: StoredImage) -> Image:
        """The image behind a stored tag."""
        manifest = stored.manifest

        def texts(media_type: str) -> list[str]:
            return [
                store.read_blob(layer.digest).decode() for layer in manifest.layers_of(media_type)
            ]

        models = manifest.layers_of(media_types.MODEL)
        jinja = texts(media_types.JINJA_TEMPLATE)
        go = texts(media_types.GO_TEMPLATE)  # an image Ollama made: convert on read
        template = jinja[-1] if jinja else (_converted(go[-1]) if go else None)
        systems = texts(media_types.SYSTEM)
        params = texts(media_types.PARAMS)
        messages = texts(media_types.MESSAGES)
        return cls(
            stored=stored,
            config=ImageConfig.model_validate_json(store.read_blob(manifest.config.digest)),
            model_path=store.blob_path(models[0].digest) if models else Path(),
            adapter_paths=tuple(
                store.blob_path(layer.digest) for layer in manifest.layers_of(media_types.ADAPTER)
            ),
            template=template,
            system=systems[-1] if systems else None,
            params=json.loads(params[-1]) if params else {},
            messages=tuple(json.loads(messages[-1])) if messages else (),
            licenses=tuple(texts(media_types.LICENSE)),
        )

    @property
    def capabilities(self) -> tuple[str, ...]:
        """What the image can do, as Ollama's ``/api/show`` lists it and ``ladle show``
        prints it: the weights' (``completion``, ``embedding``, ``vision``, from the GGUF
        at build time; ``completion`` for an image without them, as Ollama assumes),
        and ``tools`` when the chat template takes tools."""
        found = self.config.capabilities or ("completion",)
        if parser_for_family(self.config.template_family, self.template) is not None:
            found += ("tools",)
        return found

    @property
    def size(self) -> int:
        """Bytes of every blob the image references, as ``ollama list`` counts them."""
        return self.stored.manifest.size

    def modelfile(self) -> str:
        """A Modelfile that rebuilds this image's content from the store's blobs."""
        lines = [f"# Modelfile of {self.stored.name.display()}", f"FROM {self.model_path}"]
        lines += [f"ADAPTER {path}" for path in self.adapter_paths]
        if self.template is not None:
            lines.append(f"TEMPLATE {quote(self.template, prose=True)}")
        if self.system is not None:
            lines.append(f"SYSTEM {quote(self.system, prose=True)}")
        for key, value in self.params.items():
            values = value if isinstance(value, list) else [value]
            lines += [f"PARAMETER {key} {quote(_param_text(item))}" for item in values]
        lines += [f"MESSAGE {m['role']} {quote(m['content'])}" for m in self.messages]
        lines += [f"LICENSE {quote(text, prose=True)}" for text in self.licenses]
        return "\n".join(lines) + "\n"


def _converted(go_template: str) -> str:
    from builder.templates.layer import template_layer_text  # Jinja loads only for Ollama's layers

    return template_layer_text(go_template)


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
