"""The ``ladle`` command: parse arguments, call one function, map errors to exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Annotated, Any

import typer

from ladle.cli import diff, distribution, images, info, lint, maintenance, serve
from ladle.cli.hints import describe
from ladle.cli.render import render
from ladle.errors import LadleError
from ladle.versions import __version__

COMMANDS: dict[str, Callable[..., Any]] = {
    "check": lint.check,
    "fmt": lint.fmt,
    "create": images.create,
    "list": images.list_images,
    "ls": images.list_images,
    "show": images.show,
    "cp": images.cp,
    "rm": images.rm,
    "diff": diff.diff,
    "prune": maintenance.prune,
    "doctor": maintenance.doctor,
    "render": render,
    "info": info.info,
    "pull": distribution.pull,
    "push": distribution.push,
    "login": distribution.login,
    "logout": distribution.logout,
    "serve": serve.serve,
    "run": serve.run,
    "chat": serve.chat,
    "ps": serve.ps,
    "stop": serve.stop,
}
"""Every command, in the order ``ladle --help`` lists them."""

HIDDEN = frozenset({"ls"})


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"ladle {__version__}")
        raise typer.Exit()


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


def make_app(names: Iterable[str] = COMMANDS) -> typer.Typer:
    """The ``ladle`` command group with the commands ``names``."""
    group = typer.Typer(
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
    for name in names:
        group.command(name=name, hidden=name in HIDDEN)(COMMANDS[name])
    group.callback()(_main)
    return group


app = make_app()


EXIT_CODES: dict[type[LadleError], int] = {LadleError: 1}


def main() -> None:
    """Console entry point: runs the app; a ``LadleError`` becomes a message (and a hint,
    :mod:`ladle.cli.hints`), not a trace.

    ``ladle NAME …`` builds the group with command NAME only: Typer turns every command
    of a group into a Click command at each start (about 15 ms for all of them).
    """
    named = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] in COMMANDS else None
    try:
        (make_app([named]) if named else app)()
    except LadleError as exc:
        typer.echo(describe(exc), err=True)
        raise SystemExit(EXIT_CODES.get(type(exc), 1)) from None
