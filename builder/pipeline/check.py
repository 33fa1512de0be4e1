"""Every problem ``ladle create`` would find in a Modelfile, found without building it.

:func:`modelfile.check` judges the Modelfile alone (syntax, instructions, parameters);
it stands below the builder and cannot look at templates or bases. :func:`check_modelfile`
adds what only the builder knows: each TEMPLATE converted (if it is a Go template) and
compiled as a build would, each RENDERER and PARSER name looked up among the built-in
ones (:func:`output_name_diagnostics`, which ``ladle create`` refuses by as well), and a
warning when neither the Modelfile, its base image nor the GGUF has a chat template.
Nothing is written: the base is resolved the way
:func:`~builder.pipeline.preview.render_prompt` resolves it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import modelfile
from builder.pipeline.preview import base_template
from builder.store.store import Store
from builder.templates.layer import template_layer_text
from builder.templates.parsers import parser_named
from builder.templates.renderers import renderer_named
from ladle.errors import Diagnostic, LadleError, ModelfileError, TemplateError
from modelfile import nodes, source

_Kind = TypeVar("_Kind", bound=nodes.Instruction)

NO_TEMPLATE = (
    "no chat template: neither this Modelfile, its base nor the GGUF has one; "
    "prompts will use a plain 'role: content' format (add a TEMPLATE)"
)


def check_modelfile(parsed: modelfile.Modelfile, store: Store, folder: Path) -> list[Diagnostic]:
    """Every diagnostic of ``parsed``: :func:`modelfile.check`'s, then its templates'.

    ``store`` is where a FROM naming an image is looked up, ``folder`` what a FROM path
    is relative to (:func:`~builder.pipeline.plan.modelfile_folder` of the Modelfile).
    """
    return [
        *modelfile.check(parsed),
        *_template_diagnostics(parsed),
        *output_name_diagnostics(parsed),
        *_missing_template(parsed, store, folder),
    ]


def output_name_diagnostics(parsed: modelfile.Modelfile) -> Iterator[Diagnostic]:
    """An error at the name of each RENDERER or PARSER that is not a built-in one, the
    known names listed in it."""
    lookups = ((nodes.Renderer, renderer_named), (nodes.OutputParser, parser_named))
    for kind, lookup in lookups:
        for item in _instructions(parsed, kind):
            try:
                lookup(item.value)
            except ValueError as error:
                yield _at_value(parsed, item, str(error))


def refuse_unknown_output_names(parsed: modelfile.Modelfile) -> None:
    """:class:`~ladle.errors.ModelfileError` at the first RENDERER or PARSER whose name
    is not a built-in one (the build's check, before anything is read or written)."""
    for diagnostic in output_name_diagnostics(parsed):
        raise ModelfileError(diagnostic)


def _at_value(parsed: modelfile.Modelfile, item: nodes.Instruction, message: str) -> Diagnostic:
    span = item.value_span
    text = source.source_line(parsed.text, span.line) if parsed.text else None
    return Diagnostic("error", message, span.line, span.column, parsed.path, text)


def _template_diagnostics(parsed: modelfile.Modelfile) -> Iterator[Diagnostic]:
    """Every TEMPLATE is converted (if Go) and compiled as a build would; a problem is
    reported at its place in the Modelfile, the template's own line and column in the
    message."""
    for item in _instructions(parsed, nodes.Template):
        try:
            template_layer_text(item.value)
        except TemplateError as error:
            opening = source.source_line(parsed.text or "", item.value_span.line) or ""
            line, column = _place_in_file(item, opening, error.line, error.column)
            text = source.source_line(parsed.text, line) if parsed.text else None
            yield Diagnostic("error", str(error), line, column, parsed.path, text)


def _missing_template(
    parsed: modelfile.Modelfile, store: Store, folder: Path
) -> Iterator[Diagnostic]:
    """A warning when neither the Modelfile, its base image nor the GGUF has a template.

    A base that cannot be resolved here (not pulled yet, a file elsewhere) is left to
    the build to report.
    """
    froms = _instructions(parsed, nodes.From)
    if not froms or _instructions(parsed, nodes.Template):
        return
    try:
        template = base_template(froms[-1].value, store, folder)
    except LadleError:
        return
    if template is None:
        span = froms[-1].span
        text = source.source_line(parsed.text, span.line) if parsed.text else None
        yield Diagnostic("warning", NO_TEMPLATE, span.line, span.column, parsed.path, text)


def _instructions(parsed: modelfile.Modelfile, kind: type[_Kind]) -> list[_Kind]:
    return [item for item in parsed.instructions if isinstance(item, kind)]


def _place_in_file(
    item: nodes.Template, first_line: str, line: int | None, column: int | None
) -> tuple[int, int]:
    """Where a line and column of a TEMPLATE's value stand in the Modelfile
    (``first_line`` is the Modelfile line the value starts on)."""
    start = item.value_span
    if line is None:
        return start.line, start.column
    if line > 1:
        return start.line + line - 1, column or 1
    quoted = first_line[start.column - 1 :]
    opening = 3 if quoted.startswith('"""') else 1 if quoted.startswith('"') else 0
    return start.line, start.column + opening + (column or 1) - 1
