"""docs/ARCHITECTURE.md matches the code: every module and function it names exists, and
every subpackage is on its map (the layers themselves are checked by lint-imports)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOC = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
PACKAGES = ("ladle", "grammar", "modelfile", "builder", "runtime", "tui")
_NAME = rf"(?:{'|'.join(PACKAGES)})(?:\.\w+)*"
#: `module:function` or `module:Class.method`, as the two paths write them.
REFERENCES = sorted(set(re.findall(rf"`({_NAME}):([\w.]+)`", DOC)))
#: Every other dotted name in backquotes: a module, or an attribute of one.
DOTTED = sorted(set(re.findall(rf"`({_NAME})`", DOC)))


def _resolve(dotted: str) -> object:
    """The module ``dotted`` names, or the attribute of the longest module prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute)
        return found
    raise ModuleNotFoundError(dotted)


def test_the_doc_names_things() -> None:
    assert len(REFERENCES) > 20 and len(DOTTED) > 20


@pytest.mark.parametrize(("module", "attribute"), REFERENCES)
def test_every_module_function_exists(module: str, attribute: str) -> None:
    found: object = importlib.import_module(module)
    for part in attribute.split("."):
        assert hasattr(found, part), f"ARCHITECTURE.md names {module}:{attribute}"
        found = getattr(found, part)


@pytest.mark.parametrize("dotted", DOTTED)
def test_every_dotted_name_exists(dotted: str) -> None:
    _resolve(dotted)


def test_every_subpackage_is_on_the_map() -> None:
    subpackages = [
        ".".join(init.parent.relative_to(ROOT).parts)
        for package in PACKAGES
        for init in (ROOT / package).rglob("__init__.py")
        if init.parent != ROOT / package
    ]
    missing = [name for name in subpackages if name not in DOC]
    assert not missing, f"ARCHITECTURE.md does not place {missing}"
