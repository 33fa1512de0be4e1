"""The shipped LALR tables (grammar/modelfile.tables) against the grammar they come from."""

from __future__ import annotations

import marshal
from collections.abc import Callable, Iterator
from importlib.resources import files
from typing import Any

import lark
import pytest

import modelfile
from grammar import modelfile_grammar
from ladle.errors import ModelfileError
from modelfile import parser, tables
from tests.conftest import EXAMPLES, load_fixture_json

INPUTS: list[str] = [
    case["input"]
    for case in load_fixture_json("ollama", "ollama_parser_cases.json")
    if isinstance(case.get("input"), str) and not case.get("input_encoding")
] + [path.read_text(encoding="utf-8") for path in sorted(EXAMPLES.glob("*/Modelfile"))]


def _shipped() -> bytes:
    return files("grammar").joinpath(tables.TABLES_FILE).read_bytes()


def test_the_shipped_tables_belong_to_the_shipped_grammar() -> None:
    """Fails after an edit to modelfile.lark until ``python -m modelfile.tables`` rewrites them."""
    shipped = marshal.loads(_shipped())
    assert shipped["grammar_sha256"] == tables.grammar_digest(modelfile_grammar()), (
        "grammar/modelfile.tables is stale: run `python -m modelfile.tables`"
    )
    if shipped["lark"] != lark.__version__:
        pytest.skip(f"the tables are lark {shipped['lark']}'s; lark {lark.__version__} builds")
    assert tables.read(_shipped(), modelfile_grammar()) is not None


def _outcome(text: str) -> Any:
    try:
        return modelfile.parse(text).commands
    except ModelfileError as error:
        return ("error", str(error))


@pytest.fixture
def use_parser() -> Iterator[Callable[[lark.Lark], None]]:
    """Swap the cached Modelfile parser for another one, restored afterwards."""
    original = parser.grammar_parser

    def swap(replacement: lark.Lark) -> None:
        parser.grammar_parser = lambda: replacement  # type: ignore[assignment]

    yield swap
    parser.grammar_parser = original


def test_a_parser_from_the_tables_parses_as_one_built_from_the_grammar(
    use_parser: Callable[[lark.Lark], None],
) -> None:
    use_parser(tables.build_parser(parser._ToNodes()))
    from_tables = [_outcome(text) for text in INPUTS]
    use_parser(lark.Lark(modelfile_grammar(), transformer=parser._ToNodes(), **tables.OPTIONS))
    from_grammar = [_outcome(text) for text in INPUTS]
    assert from_tables == from_grammar
    assert any(isinstance(outcome, tuple) for outcome in from_tables)  # errors compared too


def test_tables_for_another_grammar_or_lark_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = tables.compute(modelfile_grammar())
    assert tables.read(raw, modelfile_grammar()) is not None
    assert tables.read(raw, modelfile_grammar() + "\n// edited\n") is None
    assert tables.read(b"not marshal data", modelfile_grammar()) is None
    monkeypatch.setattr(lark, "__version__", "0.0.1")
    assert tables.read(raw, modelfile_grammar()) is None
