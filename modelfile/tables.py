"""The Modelfile parser's LALR tables, computed when the grammar changes and shipped.

Building the parser from ``grammar/modelfile.lark`` means parsing the grammar and
computing its LALR tables: about 18 ms of CPU on every start of ``ladle``, when a whole
``ladle create`` has 300 ms. So ``python -m modelfile.tables`` computes them once and
writes ``grammar/modelfile.tables`` beside the grammar, and the parser loads that instead
(0.2 ms, then 2 ms for Lark to rebuild its objects). The file is in :mod:`marshal`
format: plain dicts, lists and strings, which, unlike a pickle, cannot run code when read.

The file is keyed by the grammar's SHA-256 and Lark's version. When either differs (the
grammar was edited and the tables not rewritten, or another Lark is installed), or Lark's
serialised form cannot be read back, the parser is built from the grammar as before:
slower, never wrong. A test checks that the shipped tables belong to the shipped grammar.
"""

from __future__ import annotations

import functools
import hashlib
import marshal
from importlib.resources import files
from pathlib import Path
from typing import Any

import lark
from lark import Lark, Transformer
from lark.grammar import Rule
from lark.lexer import TerminalDef

from grammar import modelfile_grammar

TABLES_FILE = "modelfile.tables"
OPTIONS: dict[str, Any] = {"parser": "lalr", "lexer": "contextual"}
"""How the Modelfile grammar is compiled: LALR(1), with a lexer that only looks for the
tokens the parser can accept next."""


def grammar_digest(grammar: str) -> str:
    return hashlib.sha256(grammar.encode("utf-8")).hexdigest()


def compute(grammar: str) -> bytes:
    """The tables of ``grammar`` for this Lark, as the bytes of a tables file."""
    parser = Lark(grammar, **OPTIONS)
    data, memo = parser.memo_serialize([TerminalDef, Rule])
    return marshal.dumps(
        {
            "grammar_sha256": grammar_digest(grammar),
            "lark": lark.__version__,
            "data": data,
            "memo": memo,
        }
    )


def read(raw: bytes, grammar: str) -> dict[str, Any] | None:
    """The tables in ``raw`` when they belong to ``grammar`` and this Lark, else None."""
    try:
        tables = marshal.loads(raw)
    except (ValueError, EOFError, TypeError):
        return None
    if not isinstance(tables, dict):
        return None
    if tables.get("grammar_sha256") != grammar_digest(grammar):
        return None
    if tables.get("lark") != lark.__version__:
        return None
    return tables


def build_parser(transformer: Transformer[Any, Any]) -> Lark:
    """The Modelfile parser: from the shipped tables when they fit, else from the grammar."""
    grammar = modelfile_grammar()
    try:
        raw = files("grammar").joinpath(TABLES_FILE).read_bytes()
    except OSError:
        raw = b""
    tables = read(raw, grammar)
    if tables is not None:
        try:
            loaded: Lark = Lark._load_from_dict(  # type: ignore[no-untyped-call]
                tables["data"], tables["memo"], transformer=transformer
            )
            return loaded
        except Exception:  # Lark's private serialised form changed: build from the grammar
            pass
    return Lark(grammar, transformer=transformer, **OPTIONS)


@functools.cache
def terminal_pattern(name: str) -> str:
    """The regular expression of the grammar's terminal ``name`` (a value's, for quoting)."""
    return str(build_parser(Transformer()).get_terminal(name).pattern.to_regexp())


def write(folder: Path) -> Path:
    """Compute the tables of the grammar in ``folder`` and write them beside it."""
    from ladle.atomic import write_atomically

    grammar = (folder / "modelfile.lark").read_text(encoding="utf-8")
    target = folder / TABLES_FILE
    write_atomically(target, compute(grammar))
    return target


if __name__ == "__main__":  # ``python -m modelfile.tables``, after editing modelfile.lark
    import grammar

    print(f"wrote {write(Path(grammar.__file__).parent)}")
