"""``ladle check`` and ``ladle fmt``: Modelfile diagnostics and canonical formatting."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ladle.atomic import write_atomically
from ladle.errors import Diagnostic, ModelfileError

if TYPE_CHECKING:
    import modelfile

STDIN = "-"

FilesArgument = Annotated[
    list[str],
    typer.Argument(
        metavar="FILE...",
        help="Modelfiles to read; '-' reads standard input.",
        show_default=False,
    ),
]


def check(
    files: FilesArgument,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail on warnings too, not only on errors.")
    ] = False,
) -> None:
    """Parse and validate Modelfiles, printing every problem as file:line:col.

    Exits 1 when any file has an error (or a warning, with --strict).

    Example: ladle check examples/*/Modelfile
    """
    failed = False
    counts = {"error": 0, "warning": 0}
    for diagnostic in _diagnostics(files):
        typer.echo(str(diagnostic))
        counts[diagnostic.severity] += 1
        failed |= diagnostic.severity == "error" or strict
    summary = (
        f"{len(files)} file(s) checked: {counts['error']} error(s), {counts['warning']} warning(s)"
    )
    typer.echo(summary, err=True)
    if failed:
        raise typer.Exit(1)


def fmt(
    files: FilesArgument,
    check_only: Annotated[
        bool,
        typer.Option(
            "--check", help="Write nothing; print a diff and exit 1 if a file is not canonical."
        ),
    ] = False,
) -> None:
    """Rewrite Modelfiles in canonical form, keeping comments.

    Keywords upper-case, one blank between parts, the shortest quoting that reads back,
    blank-line runs folded into one. Files are replaced atomically and only when they
    change. With '-', reads standard input and writes the result to standard output.

    Example: ladle fmt --check examples/sre-bot/Modelfile
    """
    changed = broken = 0
    for name in files:
        try:
            original, formatted = _format_one(name)
        except ModelfileError as exc:
            typer.echo(str(exc.diagnostic), err=True)
            broken += 1
            continue
        if name == STDIN and not check_only:
            typer.echo(formatted, nl=False)
        elif original != formatted:
            changed += 1
            _report_change(name, original, formatted, check_only)
    verb = "would be reformatted" if check_only else "reformatted"
    typer.echo(f"{changed} file(s) {verb}, {broken} with errors", err=True)
    if broken or (check_only and changed):
        raise typer.Exit(1)


def _diagnostics(files: list[str]) -> Iterator[Diagnostic]:
    import modelfile  # here, not at the top: it loads the grammar and pydantic

    for name in files:
        try:
            parsed = _parse(name)
        except ModelfileError as exc:
            yield exc.diagnostic
            continue
        yield from modelfile.check(parsed)
        yield from _template_diagnostics(parsed)


def _template_diagnostics(parsed: modelfile.Modelfile) -> Iterator[Diagnostic]:
    """Every TEMPLATE is converted (if Go) and compiled as ``ladle create`` would; a
    problem is reported at its place in the Modelfile, the template's own line and
    column in the message."""
    from builder.templates.layer import template_layer_text
    from ladle.errors import TemplateError
    from modelfile import nodes, source

    templates = [item for item in parsed.instructions if isinstance(item, nodes.Template)]
    if not templates:
        yield from _missing_template(parsed)
    for item in templates:
        try:
            template_layer_text(item.value)
        except TemplateError as error:
            opening = source.source_line(parsed.text or "", item.value_span.line) or ""
            line, column = _place_in_file(item, opening, error.line, error.column)
            text = source.source_line(parsed.text, line) if parsed.text else None
            yield Diagnostic("error", str(error), line, column, parsed.path, text)


def _missing_template(parsed: modelfile.Modelfile) -> Iterator[Diagnostic]:
    """A warning when neither the Modelfile, its base image nor the GGUF has a template.

    The base is resolved without writing anything; a base that cannot be resolved here
    (not pulled yet, a file elsewhere) is left to ``ladle create`` to report.
    """
    from builder.pipeline.plan import modelfile_folder
    from builder.pipeline.preview import base_template
    from builder.store.store import Store
    from ladle.errors import LadleError
    from ladle.settings import Settings
    from modelfile import nodes, source

    froms = [item for item in parsed.instructions if isinstance(item, nodes.From)]
    if not froms:
        return
    folder = modelfile_folder(
        Path(parsed.path) if parsed.path and parsed.path != "<stdin>" else None
    )
    try:
        template = base_template(froms[-1].value, Store(Settings.from_environment().models), folder)
    except LadleError:
        return
    if template is None:
        span = froms[-1].span
        yield Diagnostic(
            "warning",
            "no chat template: neither this Modelfile, its base nor the GGUF has one; "
            "prompts will use a plain 'role: content' format (add a TEMPLATE)",
            span.line,
            span.column,
            parsed.path,
            source.source_line(parsed.text, span.line) if parsed.text else None,
        )


def _place_in_file(
    item: modelfile.nodes.Template, first_line: str, line: int | None, column: int | None
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


def _parse(name: str) -> modelfile.Modelfile:
    import modelfile

    if name == STDIN:
        return modelfile.parse(sys.stdin.buffer.read(), "<stdin>")
    return modelfile.parse_file(name)


def _format_one(name: str) -> tuple[str, str]:
    """The file's text as it stands and in canonical form.

    The text as it stands is what its bytes say as UTF-8, so that a BOM, UTF-16 or old
    Mac line ends count as changes (canonical files are plain UTF-8 with LF line ends).
    """
    import modelfile

    parsed = _parse(name)
    assert parsed.text is not None  # parse keeps the source
    formatted = modelfile.format(parsed)
    if name == STDIN:
        return parsed.text, formatted
    raw = Path(name).read_bytes()
    return raw.decode("utf-8", errors="replace"), formatted


def _report_change(name: str, original: str, formatted: str, check_only: bool) -> None:
    if check_only:
        diff = difflib.unified_diff(
            original.splitlines(keepends=True),
            formatted.splitlines(keepends=True),
            fromfile=f"{name} (current)",
            tofile=f"{name} (formatted)",
        )
        typer.echo("".join(line if line.endswith("\n") else line + "\n" for line in diff), nl=False)
        typer.echo(f"would reformat {name}", err=True)
    elif name != STDIN:
        write_atomically(Path(name), formatted.encode("utf-8"))
        typer.echo(f"reformatted {name}", err=True)
