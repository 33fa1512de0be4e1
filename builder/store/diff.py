"""``ladle diff A B``: what changes from image A to image B, layer by layer.

Not a byte diff of manifests, which would only say "every digest changed": each part
of an image is compared as what it means, in the order a build writes the layers.

======================  ==================================================================
section                 compared as
======================  ==================================================================
Base                    the model weights' digest (and projector's), and the parent
                        images recorded in the config's ``ladle.parents``
Model                   the config's facts: architecture, size, quantization, context…
Adapters                LoRA digests, added or removed
Draft                   the draft model's digest and architecture (speculative decoding)
Template, System        text, as a unified diff
License                 the license texts, one after another, as a unified diff
Parameters              key by key: added, removed or changed values
Messages                the conversation, one ``role: content`` per message
======================  ==================================================================

:func:`diff_images` is pure: it takes two :class:`~builder.store.image.Image` and returns an
:class:`ImageDiff`, plain lines with ``-``/``+``/`` ``/``@`` markers that the CLI prints
(coloured on a terminal). Sections without a change are left out; no sections at all
means the images mean the same, even if their digests differ (say, built by another
ladle version).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from builder.store import media_types
from builder.store.image import Image
from builder.store.store import StoredImage

Marker = Literal["-", "+", " ", "@"]

CONTEXT_LINES = 3
"""Unchanged lines shown around a change in a text section, as ``diff -u`` shows."""

MODEL_FACTS = (
    ("architecture", "model_family"),
    ("parameters", "model_type"),
    ("quantization", "file_type"),
    ("context length", "context_length"),
    ("embedding length", "embedding_length"),
    ("capabilities", "capabilities"),
    ("template family", "template_family"),
    ("renderer", "renderer"),
    ("parser", "parser"),
    ("requires", "requires"),
)
"""Config fields compared in the Model section: (label, field)."""


@dataclass(frozen=True)
class DiffLine:
    """One line of a diff: removed (``-``), added (``+``), context (`` ``) or a hunk
    header (``@``, whose text is the whole ``@@ … @@`` line)."""

    marker: Marker
    text: str

    def __str__(self) -> str:
        return self.text if self.marker == "@" else self.marker + self.text


@dataclass(frozen=True)
class Section:
    """The changes to one part of an image."""

    title: str
    lines: tuple[DiffLine, ...]


@dataclass(frozen=True)
class ImageDiff:
    """The semantic difference between two images; no sections when they mean the same."""

    old: str
    new: str
    sections: tuple[Section, ...]

    @property
    def same(self) -> bool:
        return not self.sections

    def text(self) -> str:
        """The whole diff as plain text, with a ``---``/``+++`` header."""
        lines = [f"--- {self.old}", f"+++ {self.new}"]
        for section in self.sections:
            lines += ["", section.title, *(str(line) for line in section.lines)]
        return "\n".join(lines) + "\n"


def diff_images(old: Image, new: Image, names: Mapping[str, str] | None = None) -> ImageDiff:
    """Compare ``old`` with ``new``; ``names`` maps manifest digests to image names, so
    that parents read as names."""
    known = names or {}
    candidates = [
        Section("Base", tuple(_base(old, new, known))),
        Section("Model", tuple(_model(old, new))),
        Section("Adapters", tuple(_adapters(old, new))),
        Section("Draft", tuple(_draft(old, new))),
        Section("Template", tuple(_text_diff(_lines(old.template), _lines(new.template)))),
        Section("System", tuple(_text_diff(_lines(old.system), _lines(new.system)))),
        Section("License", tuple(_text_diff(_licenses(old), _licenses(new)))),
        Section("Parameters", tuple(_keyed(old.params, new.params))),
        Section("Messages", tuple(_text_diff(_messages(old), _messages(new)))),
    ]
    return ImageDiff(
        old=_title(old),
        new=_title(new),
        sections=tuple(section for section in candidates if section.lines),
    )


def image_names(images: Iterable[StoredImage]) -> dict[str, str]:
    """Manifest digest -> the names of the images with that digest, for :func:`diff_images`."""
    names: dict[str, list[str]] = {}
    for stored in images:
        names.setdefault(stored.digest, []).append(stored.name.display())
    return {digest: ", ".join(found) for digest, found in names.items()}


def _title(image: Image) -> str:
    return f"{image.stored.name.display()} ({image.stored.digest.removeprefix('sha256:')[:12]})"


def _base(old: Image, new: Image, names: Mapping[str, str]) -> list[DiffLine]:
    def facts(image: Image) -> dict[str, Any]:
        manifest = image.stored.manifest
        found = {
            "model": [layer.digest for layer in manifest.layers_of(media_types.MODEL)],
            "projector": [layer.digest for layer in manifest.layers_of(media_types.PROJECTOR)],
            "parents": [_parent(digest, names) for digest in _parents(image)],
        }
        return {key: ", ".join(value) for key, value in found.items() if value}

    return _keyed(facts(old), facts(new), quoted=False)


def _parents(image: Image) -> tuple[str, ...]:
    provenance = image.config.ladle
    return provenance.parents if provenance is not None else ()


def _parent(digest: str, names: Mapping[str, str]) -> str:
    name = names.get(digest)
    return f"{digest} ({name})" if name else digest


def _model(old: Image, new: Image) -> list[DiffLine]:
    def facts(image: Image) -> dict[str, Any]:
        found = {label: getattr(image.config, field) for label, field in MODEL_FACTS}
        return {label: value for label, value in found.items() if value not in (None, "", ())}

    return _keyed(facts(old), facts(new), quoted=False)


def _adapters(old: Image, new: Image) -> list[DiffLine]:
    def digests(image: Image) -> list[str]:
        return [layer.digest for layer in image.stored.manifest.layers_of(media_types.ADAPTER)]

    return _text_diff(digests(old), digests(new), hunks=False)


def _draft(old: Image, new: Image) -> list[DiffLine]:
    """The draft layer's digest, and the architecture the config records for it."""

    def facts(image: Image) -> dict[str, Any]:
        layers = image.stored.manifest.layers_of(media_types.DRAFT)
        found = {
            "draft": ", ".join(layer.digest for layer in layers),
            "architecture": image.draft_architecture,
        }
        return {key: value for key, value in found.items() if value}

    return _keyed(facts(old), facts(new), quoted=False)


def _keyed(old: Mapping[str, Any], new: Mapping[str, Any], quoted: bool = True) -> list[DiffLine]:
    """Key by key, in key order: a removed key is ``-``, an added one ``+``, a changed
    one both. Values are JSON where types matter (parameters: ``"1"`` is not ``1``);
    ``quoted=False`` shows strings bare."""
    keys = {*old, *new}
    changed = sorted(k for k in keys if k not in old or k not in new or old[k] != new[k])
    width = max((len(key) for key in changed), default=0)
    lines = []
    for key in changed:
        if key in old:
            lines.append(DiffLine("-", f"{key:<{width}}  {_value(old[key], quoted)}"))
        if key in new:
            lines.append(DiffLine("+", f"{key:<{width}}  {_value(new[key], quoted)}"))
    return lines


def _value(value: Any, quoted: bool) -> str:
    if isinstance(value, str) and not quoted:
        return value
    return json.dumps(value, ensure_ascii=False)


def _text_diff(old: list[str], new: list[str], hunks: bool = True) -> list[DiffLine]:
    """A unified diff of two line lists, without the ``---``/``+++`` header."""
    lines: list[DiffLine] = []
    for line in list(difflib.unified_diff(old, new, lineterm="", n=CONTEXT_LINES))[2:]:
        if line.startswith("@@"):
            if hunks:
                lines.append(DiffLine("@", line))
        else:
            marker: Marker = "-" if line[0] == "-" else "+" if line[0] == "+" else " "
            lines.append(DiffLine(marker, line[1:]))
    return lines


def _lines(text: str | None) -> list[str]:
    return text.splitlines() if text else []


def _licenses(image: Image) -> list[str]:
    """Every license's lines, a blank line between two licenses."""
    lines: list[str] = []
    for text in image.licenses:
        lines += ([""] if lines else []) + _lines(text)
    return lines


def _messages(image: Image) -> list[str]:
    """``role: content``, continuation lines indented under the content."""
    lines: list[str] = []
    for message in image.messages:
        role = str(message.get("role", ""))
        content = _lines(str(message.get("content", ""))) or [""]
        lines.append(f"{role}: {content[0]}")
        lines += [" " * (len(role) + 2) + line for line in content[1:]]
    return lines
