"""``ladle diff A B``: print what changes from one image to another (:mod:`builder.store.diff`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from builder.store.names import ModelName
from builder.store.store import Store
from ladle.cli.hints import describe
from ladle.errors import LadleError
from ladle.settings import Settings

if TYPE_CHECKING:
    from builder.store.diff import ImageDiff

EXIT_SAME, EXIT_DIFFERENT, EXIT_TROUBLE = 0, 1, 2
"""diff(1)'s exit statuses, so that scripts can write ``ladle diff a b || …``."""

STYLES = {"-": "red", "+": "green", "@": "cyan", " ": ""}


def diff(
    old: Annotated[str, typer.Argument(help="The image to compare from.")],
    new: Annotated[str, typer.Argument(help="The image to compare with.")],
) -> None:
    """Show what changes from image OLD to image NEW, part by part: base weights and
    parents, model facts, adapters, template, system prompt, license, parameters and
    messages, with - and + markers.

    Exits as diff(1) does: 0 when the images are the same, 1 when they differ, 2 when
    one cannot be read.

    Example: ladle diff smollm2:135m sre-bot
    """
    from builder.store.diff import diff_images, image_names
    from builder.store.image import Image

    store = Store(Settings.from_environment().models)
    try:
        before, after = (Image.load(store, ModelName.parse(text)) for text in (old, new))
    except LadleError as exc:
        typer.echo(describe(exc), err=True)
        raise typer.Exit(EXIT_TROUBLE) from None
    result = diff_images(before, after, image_names(store.images()))
    if result.same:
        typer.echo(f"no differences between {result.old} and {result.new}")
        raise typer.Exit(EXIT_SAME)
    if sys.stdout.isatty():
        _print_coloured(result)
    else:
        typer.echo(result.text(), nl=False)
    raise typer.Exit(EXIT_DIFFERENT)


def _print_coloured(result: ImageDiff) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False, soft_wrap=True, emoji=False)
    console.print(Text(f"--- {result.old}", style="bold red"))
    console.print(Text(f"+++ {result.new}", style="bold green"))
    for section in result.sections:
        console.print()
        console.print(Text(section.title, style="bold"))
        for line in section.lines:
            console.print(Text(str(line), style=STYLES[line.marker]))
