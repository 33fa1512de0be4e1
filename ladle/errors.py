"""The one tree of errors that ladle shows to users.

::

    LadleError                 anything ladle reports to a user (CLI exit code 1)
    └── ModelfileError         a Modelfile that cannot be read, parsed or validated;
                               carries the file, line, column, reason and source line
    └── TemplateError          a chat template that cannot be compiled, converted or
                               rendered (syntax, sandbox violation, time or size limit);
                               carries the template line and column and the origin
                               (the Modelfile TEMPLATE instruction) when known

Later parts add their branches here (builder, store, runtime), so that the CLI and the
HTTP API choose exit codes and status codes by type, never by message text. Third-party
exceptions (Lark, pydantic, llama-cpp-python) are translated into this tree at exactly
one boundary each and never reach users raw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a Modelfile, located by file, 1-based line and 1-based column."""

    severity: Severity
    message: str
    line: int
    column: int
    path: str | None = None
    source_line: str | None = None

    def location(self) -> str:
        """``file:line:col`` (``<string>`` stands for text that came from no file)."""
        return f"{self.path or '<string>'}:{self.line}:{self.column}"

    def __str__(self) -> str:
        return f"{self.location()}: {self.severity}: {self.message}"

    def excerpt(self) -> str:
        """The diagnostic line followed by the source line and a caret under the column."""
        if self.source_line is None:
            return str(self)
        shown = self.source_line.replace("\t", " ")
        caret = " " * (self.column - 1) + "^"
        return f"{self}\n    {shown}\n    {caret}"


class LadleError(Exception):
    """Base of every error ladle reports to users."""


class ModelfileError(LadleError):
    """A Modelfile problem, with everything needed to point at it."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.excerpt())
        self.diagnostic = diagnostic

    @property
    def path(self) -> str | None:
        return self.diagnostic.path

    @property
    def line(self) -> int:
        return self.diagnostic.line

    @property
    def column(self) -> int:
        return self.diagnostic.column

    @property
    def reason(self) -> str:
        return self.diagnostic.message


class TemplateError(LadleError):
    """A chat template problem: at build time a broken template, at request time a
    refused render (``raise_exception``, sandbox violation, time or size limit).

    ``line`` and ``column`` are 1-based positions inside the template text (``None``
    when the problem has no position, e.g. a time limit); ``origin`` says where the
    template came from, e.g. ``Modelfile:3`` for a TEMPLATE instruction.
    """

    def __init__(
        self,
        reason: str,
        *,
        line: int | None = None,
        column: int | None = None,
        origin: str | None = None,
    ) -> None:
        self.reason, self.line, self.column, self.origin = reason, line, column, origin
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = "template"
        if self.line is not None:
            where += f" line {self.line}"
            if self.column is not None:
                where += f", column {self.column}"
        if self.origin:
            where += f" (from {self.origin})"
        return f"{where}: {self.reason}"
