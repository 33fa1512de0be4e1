"""The canonical text of a Modelfile, written by ``ladle fmt``.

Rules: keywords in upper case, one blank between parts, no indentation, values spelled
the shortest way that reads back (SYSTEM, TEMPLATE and LICENSE prefer triple quotes; see
:func:`modelfile.quoting.quote`), comments kept where they stand, runs of blank lines
folded into one, no blank lines at the start, and one line end at the end.
``parse(format(m)) == m`` for every parsed ``m``, and formatting is idempotent.
"""

from __future__ import annotations

from modelfile import nodes
from modelfile.quoting import quote

_PROSE = (nodes.System, nodes.Template, nodes.License)


def format(modelfile: nodes.Modelfile) -> str:
    """The canonical text of ``modelfile``."""
    lines: list[str] = []
    previous: nodes.Item | None = None
    for item in modelfile.items:
        if previous is not None and item.span.line > previous.span.end_line + 1:
            lines.append("")
        lines.append(format_item(item))
        previous = item
    return "".join(line + "\n" for line in lines)


def format_item(item: nodes.Item) -> str:
    """One instruction or comment in canonical form (may span lines)."""
    match item:
        case nodes.Comment(text=text):
            return text
        case nodes.Parameter(name=name, value=value):
            return f"PARAMETER {name} {quote(value)}"
        case nodes.Message(role=role, value=value):
            return f"MESSAGE {role} {quote(value)}"
        case nodes.Instruction(value=value):
            return f"{item.keyword} {quote(value, prose=isinstance(item, _PROSE))}"
    raise TypeError(f"not a Modelfile node: {item!r}")
