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
from ladle.settings import Settings

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
    # Imported here, not at the top: they load the grammar, pydantic and Jinja.
    from builder.pipeline.check import check_modelfile
    from builder.pipeline.plan import modelfile_folder
    from builder.store.store import Store

    store = Store(Settings.from_environment().models)
    for name in files:
        try:
            parsed = _parse(name)
        except ModelfileError as exc:
            yield exc.diagnostic
            continue
        folder = modelfile_folder(None if name == STDIN else Path(name))
        yield from check_modelfile(parsed, store, folder)


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
