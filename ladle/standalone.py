"""One module of an installed package, loaded from its file without the package.

Some packages ladle depends on keep plain, standard-library-only code beside an
``__init__`` that imports far more: ``gguf/__init__.py`` imports numpy for its reader and
writer, ``llama_cpp/__init__.py`` loads llama.cpp's shared libraries. Where ladle needs
only that plain module (gguf's constants, llama-cpp-python's JSON-schema-to-GBNF
converter), it loads the file on its own, under a name of ladle's, so that the package
itself is never imported.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType


def load_module_file(package: str, filename: str, name: str) -> ModuleType:
    """Execute ``filename`` of the installed ``package`` as the module ``name``; raises
    ImportError when the package is not installed or the file cannot be loaded."""
    found = importlib.util.find_spec(package)
    if found is None or found.origin is None:
        raise ImportError(f"the {package} package is not installed")
    path = Path(found.origin).with_name(filename)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
