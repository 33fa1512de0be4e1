"""Structured output: the GBNF grammar for an API ``format`` (``"json"`` or a schema).

llama-cpp-python's pure-Python converter (``llama_cpp/llama_grammar.py``, the port of
llama.cpp's ``json_schema_to_grammar``) turns a JSON Schema into GBNF. That module needs
nothing but the standard library, but importing it as ``llama_cpp.llama_grammar`` would
run the package's ``__init__``, which loads llama.cpp's shared libraries: about 8 MB of
resident memory in a server process that never runs a model. So it is loaded here from
its file, on its own, the first time a request asks for a format.

A grammar's size and cost are decided by the schema, so the schema is checked against
:mod:`runtime.runner.schema_limits` before the converter sees it (the converter's time
and memory then stay small), and the grammar written is at most
:data:`MAX_GRAMMAR_CHARS`. A schema the converter cannot handle (it raises assertions,
key and type errors, recursion errors on user input) is an ``InvalidRequestError``,
which the API answers with a 400 naming the field.
"""

from __future__ import annotations

import functools
import json
from types import ModuleType
from typing import Any

from ladle.errors import InvalidRequestError
from ladle.standalone import load_module_file

from .schema_limits import check_schema, check_text

#: Longest grammar a schema may become (the runner parses it for every request, and
#: its size follows the schema's alternatives and counts, which are bounded first).
MAX_GRAMMAR_CHARS = 1024 * 1024
_REASON_CHARS = 300  # the converter's messages quote the schema: keep the start


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
    JSON valid against the schema ``format``; :class:`InvalidRequestError` for a schema
    that is not one, cannot be converted, or passes the bounds."""
    if format == "json":
        return str(_converter().JSON_GBNF)
    if not isinstance(format, dict):
        raise InvalidRequestError(f'format must be "json" or a JSON schema, not {format!r}')
    check_schema(format)
    text = json.dumps(format)
    check_text(text)
    grammar = _converted(text)
    if len(grammar) > MAX_GRAMMAR_CHARS:
        raise InvalidRequestError(
            f"the JSON schema is too big for a grammar: it makes {len(grammar):,} characters "
            f"of grammar; at most {MAX_GRAMMAR_CHARS:,}"
        )
    return grammar


def _converted(text: str) -> str:
    """The converter's grammar for the schema ``text``; whatever it raises on a schema
    it cannot handle is the schema's fault, translated here."""
    converter = _converter()
    try:
        return str(converter.json_schema_to_gbnf(text))
    except RecursionError:
        raise InvalidRequestError(
            "cannot turn this JSON schema into a grammar: its references or patterns nest "
            "too deeply"
        ) from None
    except Exception as error:  # third-party code on user input: any failure is a 400
        reason = str(error) or type(error).__name__
        if len(reason) > _REASON_CHARS:
            reason = reason[:_REASON_CHARS] + "…"
        raise InvalidRequestError(
            f"cannot turn this JSON schema into a grammar: {reason}"
        ) from None
