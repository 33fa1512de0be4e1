"""Model names as Ollama parses them: ``[host/][namespace/]model[:tag]``.

Each part is validated before any path is built from it, so a name can never point
outside the store: parts start with a letter, digit or ``_`` (so never ``.`` or ``..``),
hold only ``[A-Za-z0-9_.-]`` (a host may add ``:port``; a namespace has no ``.``), and
have Ollama's length limits. Names compare case-insensitively, and their store path is
lower-case, as Ollama's ``Name.Filepath`` is. A name is taken as given, never stripped:
``"smollm2:135m\n"`` is an invalid name (its tag holds a newline), not ``smollm2:135m``,
as Ollama's ``ParseName`` reads it, so that a request never acts on another model than
the one it names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from ladle.errors import InvalidNameError

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"

MAX_HOST = 350
MAX_PART = 80

_PARTS = {
    "host": (re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]*"), MAX_HOST),
    "namespace": (re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*"), MAX_PART),
    "model": (re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*"), MAX_PART),
    "tag": (re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*"), MAX_PART),
}
_ALLOWED = {
    "host": "letters, digits, '_', '.', '-' and ':port'",
    "namespace": "letters, digits, '_' and '-'",
    "model": "letters, digits, '_', '.' and '-'",
    "tag": "letters, digits, '_', '.' and '-'",
}


@dataclass(frozen=True)
class ModelName:
    """A complete, validated model name."""

    host: str
    namespace: str
    model: str
    tag: str

    @classmethod
    def parse(cls, text: str) -> ModelName:
        """Parse and validate ``text``, filling Ollama's defaults for missing parts."""
        raw = text
        for scheme in ("https://", "http://"):
            raw = raw.removeprefix(scheme)
        path, tag = raw, DEFAULT_TAG
        slash = raw.rfind("/")
        colon = raw.rfind(":")
        if colon > slash:
            path, tag = raw[:colon], raw[colon + 1 :]
        pieces = path.split("/")
        if len(pieces) > 3:
            raise InvalidNameError(text, "too many '/': use [host/][namespace/]model[:tag]")
        defaults = [DEFAULT_HOST, DEFAULT_NAMESPACE][: 3 - len(pieces)]
        host, namespace, model = [*defaults, *pieces]
        name = cls(host, namespace, model, tag)
        for kind in ("host", "namespace", "model", "tag"):
            _check_part(text, kind, getattr(name, kind))
        return name

    def __str__(self) -> str:
        return self.display()

    def display(self) -> str:
        """The shortest form, as ``ollama list`` shows it: ``sre-bot:latest``."""
        prefix = ""
        if self.host.lower() != DEFAULT_HOST:
            prefix = f"{self.host}/{self.namespace}/"
        elif self.namespace.lower() != DEFAULT_NAMESPACE:
            prefix = f"{self.namespace}/"
        return f"{prefix}{self.model}:{self.tag}"

    def full(self) -> str:
        """Every part: ``registry.ollama.ai/library/sre-bot:latest``."""
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"

    def key(self) -> tuple[str, str, str, str]:
        """The case-insensitive identity of the name."""
        return (self.host.lower(), self.namespace.lower(), self.model.lower(), self.tag.lower())

    def relative_path(self) -> PurePosixPath:
        """``host/namespace/model/tag``, lower-case, relative to ``manifests/``."""
        return PurePosixPath(*self.key())


def _check_part(text: str, kind: str, value: str) -> None:
    pattern, limit = _PARTS[kind]
    if not value:
        raise InvalidNameError(text, f"the {kind} is empty")
    if len(value) > limit:
        raise InvalidNameError(
            text, f"the {kind} is {len(value)} characters long; the limit is {limit}"
        )
    if not pattern.fullmatch(value) or ".." in value:
        raise InvalidNameError(
            text,
            f"the {kind} {value!r} may hold only {_ALLOWED[kind]}, "
            "and must start with a letter, digit or '_'",
        )
