"""Structured output: the GBNF grammar for an API ``format`` (``"json"`` or a schema).

llama-cpp-python's pure-Python converter (the port of llama.cpp's
``json_schema_to_grammar``) turns a JSON Schema into GBNF; importing it does not load
llama.cpp, so the server can do this before a request reaches the runner.
"""

from __future__ import annotations

import json
from typing import Any

from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

from ladle.errors import InvalidRequestError


def grammar_for_format(format: str | dict[str, Any]) -> str:
    """GBNF that only admits output of ``format``: any JSON object for ``"json"``, else
    JSON valid against the schema ``format``."""
    if format == "json":
        return str(JSON_GBNF)
    if not isinstance(format, dict):
        raise InvalidRequestError(f'format must be "json" or a JSON schema, not {format!r}')
    try:
        return str(json_schema_to_gbnf(json.dumps(format)))
    except (KeyError, ValueError, TypeError, NotImplementedError) as error:
        raise InvalidRequestError(
            f"cannot turn this JSON schema into a grammar: {error}"
        ) from error
