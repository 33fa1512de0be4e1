"""The ``ladle`` command: parse arguments, call one function, map errors to exit codes."""

from __future__ import annotations

from typing import Annotated

import typer

from ladle import __version__, diff, distribution, images, info, lint, maintenance, serve
from ladle.errors import LadleError
from ladle.render import render

app = typer.Typer(
    name="ladle",
    help=(
        "Build, store and serve local LLMs from declarative Modelfiles.\n\n"
        "Write a Modelfile (FROM, PARAMETER, SYSTEM, TEMPLATE, MESSAGE, …), check it with "
        "'ladle check', keep it tidy with 'ladle fmt'."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

app.command(name="check")(lint.check)
app.command(name="fmt")(lint.fmt)
app.command(name="create")(images.create)
app.command(name="list")(images.list_images)
app.command(name="ls", hidden=True)(images.list_images)
app.command(name="show")(images.show)
app.command(name="cp")(images.cp)
app.command(name="rm")(images.rm)
app.command(name="diff")(diff.diff)
app.command(name="prune")(maintenance.prune)
app.command(name="doctor")(maintenance.doctor)
app.command(name="render")(render)
app.command(name="info")(info.info)
app.command(name="pull")(distribution.pull)
app.command(name="push")(distribution.push)
app.command(name="login")(distribution.login)
app.command(name="logout")(distribution.logout)
app.command(name="serve")(serve.serve)
app.command(name="run")(serve.run)
app.command(name="chat")(serve.chat)
app.command(name="ps")(serve.ps)
app.command(name="stop")(serve.stop)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"ladle {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            help="Print ladle's version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Build, store and serve local LLMs from declarative Modelfiles."""


EXIT_CODES: dict[type[LadleError], int] = {LadleError: 1}


def main() -> None:
    """Console entry point: runs the app; a ``LadleError`` becomes a message, not a trace."""
    try:
        app()
    except LadleError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_CODES.get(type(exc), 1)) from None
