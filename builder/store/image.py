"""Reading an image back: its config, weights and small layers, verified."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.store import media_types
from builder.store.config import ImageConfig
from builder.store.manifest import Descriptor
from builder.store.names import ModelName
from builder.store.store import Store, StoredImage
from builder.templates.fim import takes_suffix
from builder.templates.parsers import OutputParser, parser_for_image
from modelfile.quoting import quote


@dataclass(frozen=True)
class Image:
    """An image as the runtime and ``ladle show`` see it."""

    stored: StoredImage
    config: ImageConfig
    model_path: Path
    adapter_paths: tuple[Path, ...]
    draft: Path | None
    """The draft model's GGUF blob, for speculative decoding (the image's DRAFT)."""
    template: str | None
    system: str | None
    params: dict[str, Any]
    messages: tuple[dict[str, Any], ...]
    licenses: tuple[str, ...]
    projector: Path | None = None
    """The vision projector's GGUF blob (the image's projector layer): it reads images."""

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
        drafts = manifest.layers_of(media_types.DRAFT)
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
            draft=store.blob_path(drafts[-1].digest) if drafts else None,
            template=template,
            system=systems[-1] if systems else None,
            params=json.loads(params[-1]) if params else {},
            messages=tuple(json.loads(messages[-1])) if messages else (),
            licenses=tuple(texts(media_types.LICENSE)),
            projector=_last_blob(store, manifest.layers_of(media_types.PROJECTOR)),
        )

    @property
    def capabilities(self) -> tuple[str, ...]:
        """What the image can do, as Ollama's ``/api/show`` lists it and ``ladle show``
        prints it: the weights' (``completion``, ``embedding``, ``vision``, from the GGUF
        at build time; ``completion`` for an image without them, as Ollama assumes),
        ``tools`` when the chat template (or the PARSER) takes tools, ``thinking``
        when the model reasons (:mod:`builder.templates.parsers`), and ``insert`` when
        it fills in the middle (FIM tokens, from the GGUF; or an Ollama template that
        reads ``.Suffix``: :mod:`builder.templates.fim`); ``vision`` also when the image
        has a projector layer (as Ollama's ``Model.Capabilities``)."""
        found = self.config.capabilities or ("completion",)
        if self.projector is not None and "vision" not in found:
            found += ("vision",)
        parser = self.output_parser
        if parser.takes_tools(self.config.template_family, self.template):
            found += ("tools",)
        if parser.thinks:
            found += ("thinking",)
        if "insert" not in found and takes_suffix(self.template):
            found += ("insert",)
        return found

    @property
    def output_parser(self) -> OutputParser:
        """How the model's replies are read: its PARSER, else what its template implies."""
        return parser_for_image(self.config.parser, self.config.template_family, self.template)

    @property
    def draft_architecture(self) -> str:
        """The draft model's architecture, as the config records it (Ollama's
        ``draft.architecture``); empty without a draft."""
        entry = (self.config.model_extra or {}).get("draft")
        return str(entry.get("architecture", "")) if isinstance(entry, dict) else ""

    @property
    def size(self) -> int:
        """Bytes of every blob the image references, as ``ollama list`` counts them."""
        return self.stored.manifest.size

    def modelfile(self, *, by_name: bool = False) -> str:
        """A Modelfile that rebuilds this image's content: FROM the store's blob files
        (``ladle show`` on this machine), or with ``by_name`` FROM the image itself, which
        brings its weights, adapters, draft and licenses along (so they are not repeated) and
        names no file: what ``/api/show`` answers, since a remote client should not learn
        the server's file layout."""
        name = self.stored.name.display()
        lines = [f"# Modelfile of {name}"]
        if by_name:
            lines.append(f"# FROM {name} brings its weights, adapters, draft and licenses:")
            lines += [f"#   ADAPTER {path.name}" for path in self.adapter_paths]
            lines += [f"#   DRAFT {self.draft.name}"] if self.draft is not None else []
            lines += [f"#   FROM {self.projector.name}"] if self.projector is not None else []
            lines.append(f"FROM {name}")
        else:
            lines.append(f"FROM {self.model_path}")
            lines += [f"FROM {self.projector}"] if self.projector is not None else []
            lines += [f"ADAPTER {path}" for path in self.adapter_paths]
            lines += [f"DRAFT {self.draft}"] if self.draft is not None else []
        lines += self._instructions(with_licenses=not by_name)
        return "\n".join(lines) + "\n"

    def _instructions(self, *, with_licenses: bool) -> list[str]:
        """The Modelfile lines after FROM and ADAPTER."""
        lines: list[str] = []
        if self.template is not None:
            lines.append(f"TEMPLATE {quote(self.template, prose=True)}")
        if self.system is not None:
            lines.append(f"SYSTEM {quote(self.system, prose=True)}")
        config = self.config
        for keyword, value in (("RENDERER", config.renderer), ("PARSER", config.parser)):
            if value:
                lines.append(f"{keyword} {quote(value)}")
        if config.requires:
            lines.append(f"REQUIRES {quote(config.requires)}")
        for key, value in self.params.items():
            values = value if isinstance(value, list) else [value]
            lines += [f"PARAMETER {key} {quote(_param_text(item))}" for item in values]
        lines += [f"MESSAGE {m['role']} {quote(m['content'])}" for m in self.messages]
        if with_licenses:
            lines += [f"LICENSE {quote(text, prose=True)}" for text in self.licenses]
        return lines


def _converted(go_template: str) -> str:
    from builder.templates.layer import template_layer_text  # Jinja loads only for Ollama's layers

    return template_layer_text(go_template)


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _last_blob(store: Store, layers: Sequence[Descriptor]) -> Path | None:
    return store.blob_path(layers[-1].digest) if layers else None
