"""Lark's syntax errors and the explanations read off them (``modelfile/explain.py``).

Each case parses a broken Modelfile with the grammar's own parser, checks which Lark error
it raises, and what the user is told about it, where. ``test_errors.py`` pins the full
messages of the common mistakes; these cases cover each way Lark reports a failure.
"""

from __future__ import annotations

import pytest
from lark import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from modelfile import explain, nodes
from modelfile.explain import Explanation
from modelfile.parser import grammar_parser

KNOWN = ", ".join(nodes.KEYWORDS)
HEAD = "FROM smollm2\n"


def _lark_error(text: str) -> UnexpectedInput:
    with pytest.raises(UnexpectedInput) as caught:
        grammar_parser().parse(text)
    return caught.value


CASES = [
    # The lexer finds no terminal the parser could take: UnexpectedCharacters.
    pytest.param(
        UnexpectedCharacters,
        HEAD + "  FORM x\n",
        f"unknown instruction 'FORM'; did you mean FROM? (instructions: {KNOWN})",
        (2, 3),
        id="characters-instruction-expected",
    ),
    pytest.param(
        UnexpectedCharacters,
        "FROMAGE x\n",
        f"unknown instruction 'FROMAGE'; did you mean FROM? (instructions: {KNOWN})",
        (1, 1),
        id="characters-keyword-runs-on",
    ),
    pytest.param(
        UnexpectedCharacters,
        HEAD + 'LICENSE"MIT"\n',
        "LICENSE needs a blank before its value",
        (2, 8),
        id="characters-keyword-runs-on-into-a-quote",
    ),
    pytest.param(
        UnexpectedCharacters,
        HEAD + "PARAMETER top.k 40\n",
        "parameter name 'top.k' may hold only letters, digits and '_'",
        (2, 11),
        id="characters-name-runs-on",
    ),
    pytest.param(
        UnexpectedCharacters,
        HEAD + "MESSAGE user: Hi\n",
        "message role must be system, user or assistant, not 'user:'",
        (2, 9),
        id="characters-role-runs-on",
    ),
    pytest.param(
        UnexpectedCharacters,
        HEAD + "SYSTEM\u00a0Be terse.\n",
        f"unknown instruction 'SYSTEM\\xa0Be'; did you mean SYSTEM? (instructions: {KNOWN})",
        (2, 1),
        id="characters-a-unicode-space-is-no-blank",
    ),
    # The lexer finds a terminal that the parser cannot take there: UnexpectedToken.
    pytest.param(
        UnexpectedToken,
        HEAD + "ADAPTER\n",
        "ADAPTER needs a value",
        (2, 8),
        id="token-line-end-for-a-value",
    ),
    pytest.param(
        UnexpectedToken,
        HEAD + "MESSAGE assistant\r\n",
        "MESSAGE assistant needs content, e.g. MESSAGE user Hello",
        (2, 18),
        id="token-line-end-for-content",
    ),
    pytest.param(
        UnexpectedToken,
        HEAD + "MESSAGE\n",
        "MESSAGE needs one blank, then a role (system, user or assistant), e.g. MESSAGE user Hello",
        (2, 8),
        id="token-line-end-for-a-role",
    ),
    pytest.param(
        UnexpectedToken,
        HEAD + "MESSAGE \tuser Hi\n",
        "MESSAGE needs one blank, then a role (system, user or assistant), e.g. MESSAGE user Hello",
        (2, 9),
        id="token-blank-but-no-role",
    ),
    pytest.param(
        UnexpectedToken,
        HEAD + "PARAMETER#x\n",
        f"unknown instruction 'PARAMETER#x'; did you mean PARAMETER? (instructions: {KNOWN})",
        (2, 1),
        id="token-keyword-runs-on-into-a-comment",
    ),
    pytest.param(
        UnexpectedToken,
        HEAD + 'PARAMETER stop "<|end|>\n',
        'unterminated " string in the PARAMETER stop value: no closing " at the end of a line',
        (2, 16),
        id="token-value-never-closes",
    ),
    pytest.param(
        UnexpectedToken,
        HEAD + 'PARAMETER  """x\n',
        'unterminated """ string in the PARAMETER value: no closing """ at the end of a line',
        (2, 12),
        id="token-value-of-the-empty-name-never-closes",
    ),
    pytest.param(
        UnexpectedToken,
        HEAD + 'MESSAGE user "Hi" there\n',
        'text after the closing " of the MESSAGE user value; a quoted value must end its line '
        "(quote the whole value, or write it without quotes)",
        (2, 19),
        id="token-value-closes-before-its-line-ends",
    ),
    # The input ends where the parser needs more: UnexpectedToken with Lark's $END.
    pytest.param(
        UnexpectedToken,
        HEAD + "PARAMETER",
        "PARAMETER needs a name and a value, e.g. PARAMETER temperature 0.7",
        (2, 10),
        id="end-for-a-name",
    ),
    pytest.param(
        UnexpectedToken,
        HEAD + "PARAMETER top_k",
        "PARAMETER top_k needs a value, e.g. PARAMETER temperature 0.7",
        (2, 16),
        id="end-for-a-value",
    ),
]


@pytest.mark.parametrize(("kind", "text", "message", "where"), CASES)
def test_each_lark_error_is_explained_where_it_is(
    kind: type[UnexpectedInput], text: str, message: str, where: tuple[int, int]
) -> None:
    error = _lark_error(text)
    assert type(error) is kind
    assert explain.explain(error, text) == Explanation(message, *where)


@pytest.mark.parametrize(
    ("expected", "message"),
    [
        pytest.param(["VALUE"], "expected a value", id="a-value"),
        pytest.param([*nodes.KEYWORDS, "_NL"], "expected an instruction", id="an-instruction"),
    ],
)
def test_unexpected_eof_is_explained_at_the_end(expected: list[str], message: str) -> None:
    # Lark's LALR parser reports the end of the input as the token $END; UnexpectedEOF
    # (Earley's) carries no parser state, so only its expected terminals say anything.
    text = HEAD + "SYSTEM"
    assert explain.explain(UnexpectedEOF(expected), text) == Explanation(message, 2, 7)


def test_the_terminals_explanations_name_are_the_grammars() -> None:
    terminals = {terminal.name for terminal in grammar_parser().terminals}
    named = {explain.NAME, explain.ROLE, explain.VALUE, explain.BLANKS, explain.LINE_END}
    assert named <= terminals


def test_an_instruction_starts_with_a_keyword_and_keywords_start_only_instructions() -> None:
    # explain reads "a keyword was expected" as "an instruction was expected".
    error = _lark_error("FORM x\n")
    assert isinstance(error, UnexpectedCharacters)
    line_filler = {"COMMENT", explain.BLANKS, explain.LINE_END}
    assert error.allowed - line_filler == set(nodes.KEYWORDS)
