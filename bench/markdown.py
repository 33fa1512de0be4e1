"""Markdown pieces the report is assembled from, and the static notes it includes.

The report (``docs/BENCHMARKS.md``) is generated, never edited by hand; what a person
writes about method and history lives in ``bench/notes/<section>.md`` and is included
under the section it explains.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

NOTES = Path(__file__).parent / "notes"


def cell(text: str) -> str:
    """Text made safe for one table cell: no pipes, no line breaks."""
    return text.replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> list[str]:
    """A GitHub table; ``align`` has one letter per column, ``l`` or ``r`` (default l)."""
    rules = [
        "---:" if (align[index] if index < len(align) else "l") == "r" else "---"
        for index in range(len(header))
    ]
    lines = ["| " + " | ".join(cell(each) for each in header) + " |", f"|{'|'.join(rules)}|"]
    lines.extend("| " + " | ".join(cell(each) for each in row) + " |" for row in rows)
    return [*lines, ""]


def notes(name: str, folder: Path = NOTES) -> list[str]:
    """The lines of ``bench/notes/<name>.md`` followed by a blank line (none if absent)."""
    path = folder / f"{name}.md"
    if not path.is_file():
        return []
    return [*path.read_text(encoding="utf-8").strip().splitlines(), ""]


def code(text: str) -> str:
    """Inline code, with a fence long enough for any backticks inside."""
    fence = "``" if "`" in text else "`"
    return f"{fence}{text}{fence}" if fence == "`" else f"{fence} {text} {fence}"
