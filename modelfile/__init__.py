"""The Modelfile language: text -> syntax tree -> typed spec -> canonical text.

* :func:`parse` / :func:`parse_file`: the syntax level (Ollama's ``ParseFile``);
* :meth:`Modelfile.validate` and :func:`check`: the meaning level (Ollama's
  ``CreateRequest``), with typed parameters;
* :func:`format`: the canonical text, which keeps comments.
"""

from modelfile.formatter import format
from modelfile.nodes import Modelfile
from modelfile.parameters import Parameters
from modelfile.parser import parse, parse_file
from modelfile.spec import ChatMessage, ModelSpec, check, validate

__all__ = [
    "ChatMessage",
    "ModelSpec",
    "Modelfile",
    "Parameters",
    "check",
    "format",
    "parse",
    "parse_file",
    "validate",
]
