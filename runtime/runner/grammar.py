"""Structured output: the GBNF grammar for an API ``format`` (``"json"`` or a schema).

llama-cpp-python's pure-Python converter (``llama_cpp/llama_grammar.py``, the port of
llama.cpp's ``json_schema_to_grammar``) turns a JSON Schema into GBNF. That module needs
nothing but the standard library, but importing it as ``llama_cpp.llama_grammar`` would
run the package's ``__init__``, which loads llama.cpp's shared libraries: about 8 MB of
resident memory in a server process that never runs a model. So it is loaded here from
its file, on its own, the first time a request asks for a format.
"""

from __future__ import annotations

import functools
import json
from types import ModuleType
from typing import Any

from ladle.errors import InvalidRequestError
from ladle.standalone import load_module_file


@functools.cache
def _converter() -> ModuleType:
    """``llama_cpp/llama_grammar.py``, without importing the ``llama_cpp`` package."""
    try:
        return load_module_file("llama_cpp", "llama_grammar.py", "ladle_llama_grammar")
    except ImportError as error:
        raise InvalidRequestError(
            f"structured output needs llama-cpp-python's grammar converter: {error}"
        ) from None


def grammar_for_format(format: str | dict[str, Any]) -> str:
    """GBNF that only admits output of ``format``: any JSON object for ``"json"``, else
    JSON valid against the schema ``format``."""
    if format == "json":
        return str(_converter().JSON_GBNF)
    if not isinstance(format, dict):
        raise InvalidRequestError(f'format must be "json" or a JSON schema, not {format!r}')
    try:
        return str(_converter().json_schema_to_gbnf(json.dumps(format)))
    except (KeyError, ValueError, TypeError, NotImplementedError) as error:
        raise InvalidRequestError(
            f"cannot turn this JSON schema into a grammar: {error}"
        ) from error
