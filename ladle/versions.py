"""Versions of installed distributions, read straight from their ``.dist-info`` folders.

``importlib.metadata`` takes about 25 ms to import (it brings in ``email`` and
``zipfile``): a tenth of what ``ladle create`` may take in all. A package installed from a
wheel (or in editable mode) has a ``<name>-<version>.dist-info/METADATA`` file on
``sys.path`` whose ``Version:`` header is all we need, so this reads that and turns to
``importlib.metadata`` only for the rare layouts it does not cover (eggs, zip imports).
"""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path

__version__ = "0.1.0"
"""ladle's own version, written in this one place: pyproject.toml reads it from here."""


def _normalized(name: str) -> str:
    """The wheel spelling of a distribution name: ``llama-cpp-python`` → ``llama_cpp_python``."""
    return re.sub(r"[-_.]+", "_", name).lower()


def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution``, or None when it is not installed."""
    metadata = _dist_info_folders().get(_normalized(distribution))
    found = _metadata_version(metadata / "METADATA") if metadata is not None else None
    return found if found is not None else _fallback(distribution)


@functools.cache
def _dist_info_folders() -> dict[str, Path]:
    """Each distribution's ``.dist-info`` folder on ``sys.path``; the first one wins, as
    for imports."""
    folders: dict[str, Path] = {}
    for entry in sys.path:
        try:
            children = list(Path(entry or ".").iterdir())
        except OSError:  # not a folder (a zip, an editable finder's hook) or gone
            continue
        for child in children:
            if child.name.endswith(".dist-info"):
                name = child.name.removesuffix(".dist-info").partition("-")[0]
                folders.setdefault(_normalized(name), child)
    return folders


def _metadata_version(metadata: Path) -> str | None:
    try:
        with metadata.open(encoding="utf-8") as lines:
            for line in lines:
                if line.startswith("Version:"):
                    return line.removeprefix("Version:").strip()
                if not line.strip():  # the headers end at the first blank line
                    break
    except OSError:
        return None
    return None


def _fallback(distribution: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
