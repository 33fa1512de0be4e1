"""The meaning level of a Modelfile (Ollama's ``CreateRequest``): typed and checked.

:func:`validate` returns a :class:`ModelSpec` or raises the first error;
:func:`check` returns every diagnostic, errors and warnings, for ``ladle check``.
Repetition follows Ollama: ``stop`` accumulates, scalar parameters, TEMPLATE and SYSTEM
keep the last, LICENSE and MESSAGE accumulate in order. Unlike Ollama, which keeps only
the last ADAPTER, ladle keeps every ADAPTER in order.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ladle.errors import Diagnostic, ModelfileError, Severity
from modelfile import nodes, parameters, source
from modelfile.parameters import Parameters


class ChatMessage(BaseModel):
    """One MESSAGE turn."""

    model_config = ConfigDict(frozen=True)

    role: nodes.Role
    content: str


class ModelSpec(BaseModel):
    """Everything a Modelfile says, typed: the input of the builder."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    from_: str = Field(
        alias="from", description="The last FROM: model name, file or hub reference."
    )
    also_from: tuple[str, ...] = Field(
        (),
        description="The FROMs before the last, in order: as in Ollama's Modelfiles for "
        "vision models, a second FROM gives the projector (builder.pipeline.projector).",
    )
    parameters: Parameters = Parameters()
    template: str | None = None
    system: str | None = None
    messages: tuple[ChatMessage, ...] = ()
    license: tuple[str, ...] = ()
    adapters: tuple[str, ...] = ()
    draft: str | None = None
    renderer: str | None = None
    parser: str | None = None
    requires: str | None = None

    def to_create_request(self) -> dict[str, Any]:
        """The fields of Ollama's ``/api/create`` request that a Modelfile sets."""
        request: dict[str, Any] = {"from": self.from_}
        for key in ("template", "system", "renderer", "parser", "requires"):
            if getattr(self, key) is not None:
                request[key] = getattr(self, key)
        if self.license:
            request["license"] = list(self.license)
        if values := self.parameters.set_values():
            request["parameters"] = values
        if self.messages:
            request["messages"] = [message.model_dump() for message in self.messages]
        return request


def validate(modelfile: nodes.Modelfile) -> ModelSpec:
    """The typed spec of ``modelfile``; raises ``ModelfileError`` at the first error."""
    analysis = _Analysis(modelfile)
    for diagnostic in analysis.diagnostics:
        if diagnostic.severity == "error":
            raise ModelfileError(diagnostic)
    return analysis.spec()


def check(modelfile: nodes.Modelfile) -> list[Diagnostic]:
    """Every problem in ``modelfile``, errors and warnings, in file order."""
    return _Analysis(modelfile).diagnostics


# golang.org/x/mod/semver, which Ollama uses: vMAJOR[.MINOR[.PATCH[-pre][+build]]].
_NUM = r"(?:0|[1-9][0-9]*)"
_IDENT = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_SEMVER = re.compile(
    rf"v{_NUM}(?:\.{_NUM}(?:\.{_NUM}(?:-{_IDENT}(?:\.{_IDENT})*)?"
    rf"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)?)?"
)


class _Analysis:
    """One pass over the instructions, collecting typed values and diagnostics."""

    def __init__(self, modelfile: nodes.Modelfile) -> None:
        self._modelfile = modelfile
        self.diagnostics: list[Diagnostic] = []
        self._values: dict[str, Any] = {"parameters": {}}
        self._seen: dict[str, nodes.Instruction] = {}
        self._lists: dict[str, list[Any]] = {
            "messages": [],
            "license": [],
            "adapters": [],
            "also_from": [],
        }
        for instruction in modelfile.instructions:
            self._visit(instruction)

    def spec(self) -> ModelSpec:
        values = dict(self._values)
        values["parameters"] = Parameters.model_validate(values["parameters"])
        return ModelSpec.model_validate(values | self._lists)

    def _report(self, severity: Severity, message: str, span: nodes.Span) -> None:
        text = self._modelfile.text
        shown = source.source_line(text, span.line) if text is not None else None
        self.diagnostics.append(
            Diagnostic(severity, message, span.line, span.column, self._modelfile.path, shown)
        )

    def _visit(self, instruction: nodes.Instruction) -> None:
        match instruction:
            case nodes.Parameter():
                self._parameter(instruction)
            case nodes.Message(role=role, value=content):
                self._lists["messages"].append(ChatMessage(role=role, content=content))
            case nodes.License(value=value):
                self._lists["license"].append(value)
            case nodes.Adapter(value=value):
                self._lists["adapters"].append(value)
            case nodes.Requires():
                self._requires(instruction)
            case nodes.From(value=value) if not value.strip():
                message = "FROM needs a model name or a file path"
                self._report("error", message, instruction.value_span)
            case nodes.From(value=value):  # several: a model and its projector
                if "from" in self._values:
                    self._lists["also_from"].append(self._values["from"])
                self._values["from"] = value
            case _:
                self._last_wins(_FIELDS[type(instruction)], instruction.value, instruction)

    def _last_wins(self, key: str, value: Any, instruction: nodes.Instruction) -> None:
        self._note_repeat(key, instruction.keyword, instruction)
        self._values[key] = value

    def _note_repeat(self, key: str, label: str, instruction: nodes.Instruction) -> None:
        previous = self._seen.get(key)
        if previous is not None:
            message = f"{label} is set again; this replaces line {previous.span.line}"
            self._report("warning", message, instruction.span)
        self._seen[key] = instruction

    def _requires(self, instruction: nodes.Requires) -> None:
        version = instruction.value
        if not version.startswith("v"):
            version = "v" + version
        if not _SEMVER.fullmatch(version):
            message = (
                f"REQUIRES must be a semantic version such as 0.14.0, not {instruction.value!r}"
            )
            self._report("error", message, instruction.value_span)
            return
        self._last_wins("requires", version[1:], instruction)

    def _parameter(self, instruction: nodes.Parameter) -> None:
        name, text = instruction.name, instruction.value
        where = instruction.name_span or instruction.value_span
        if name in parameters.DEPRECATED:
            self._report("warning", f"parameter {name!r} is deprecated and ignored", where)
            return
        if name not in parameters.NAMES:
            self._report("error", _unknown_parameter(name, text), where)
            return
        if not text:
            example = parameters.Parameters.model_fields[name].json_schema_extra
            sample = example.get("example") if isinstance(example, dict) else None
            message = f"PARAMETER {name} needs a value, e.g. PARAMETER {name} {sample}"
            self._report("error", message, instruction.value_span)
            return
        try:
            value = parameters.read_value(name, text)
            Parameters.model_validate({name: value})
        except ValueError as exc:  # pydantic's ValidationError is a ValueError too
            self._report("error", _value_problem(name, text, exc), instruction.value_span)
            return
        if isinstance(value, list):
            self._values["parameters"].setdefault(name, []).extend(value)
        else:
            self._note_repeat(f"parameter {name}", f"parameter {name!r}", instruction)
            self._values["parameters"][name] = value


_FIELDS: dict[type[nodes.Instruction], str] = {
    nodes.From: "from",
    nodes.Template: "template",
    nodes.System: "system",
    nodes.Draft: "draft",
    nodes.Renderer: "renderer",
    nodes.OutputParser: "parser",
}


def _unknown_parameter(name: str, text: str) -> str:
    if not name:
        return (
            f"PARAMETER has an empty name (value {text!r}); "
            "write exactly one blank after PARAMETER, e.g. PARAMETER temperature 0.7"
        )
    known = parameters.NAMES + tuple(sorted(parameters.DEPRECATED))
    guess = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
    hint = f"; did you mean {guess[0]!r}?" if guess else ""
    return f"unknown parameter {name!r}{hint}"


def _value_problem(name: str, text: str, exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        reason = exc.errors()[0]["msg"].replace("Input should be", "must be")
        return f"{name} {reason} (got {text})"
    return str(exc)
