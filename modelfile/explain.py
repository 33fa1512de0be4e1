"""Lark's syntax errors, said in the user's terms.

Lark stops where the grammar cannot go on, and says what it knew there: the terminals it
could have taken (``exc.allowed`` when the lexer stopped, ``exc.expected`` when the parser
did), what it found instead (``exc.token`` or ``exc.char``), and the parser's state,
whose value stack ends with the tokens of the instruction being read: its keyword, then
a parameter's name or a message's role. Every explanation is read off those facts:

* an instruction was expected: the word there is an unknown instruction;
* a name, role or value was expected and the line or the file ends: it is missing;
* ... and the text there does not start with a blank: the keyword, name or role before it
  runs on into that text;
* a value was expected and a blank is there: the grammar's VALUE terminal could not be
  read, which happens only when a quoted value does not close at the end of a line.

Blanks and values are the grammar's own terminals (``_INDENT`` and ``VALUE``). The source
text is read only to quote it back and to place the caret.
"""

from __future__ import annotations

import difflib
import functools
import re
from typing import NamedTuple

from lark import Token, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from modelfile import nodes, source, tables
from modelfile.quoting import TRIPLE

# The grammar's terminals that explanations name (a test checks that the grammar has them).
NAME, ROLE, VALUE, BLANKS, LINE_END = "PARAM_NAME", "ROLE", "VALUE", "_INDENT", "_NL"
END = "$END"
"""What Lark's LALR parser calls the end of the input."""

_NEEDS_NAME = "PARAMETER needs a name and a value, e.g. PARAMETER temperature 0.7"
_NEEDS_ROLE = (
    "MESSAGE needs one blank, then a role (system, user or assistant), e.g. MESSAGE user Hello"
)
_CALLED = {NAME: "a parameter name", ROLE: "a message role", VALUE: "a value"}


class Explanation(NamedTuple):
    """What is wrong, and the 1-based line and column it is at."""

    message: str
    line: int
    column: int


class _Failure(NamedTuple):
    """Where Lark stopped, and what it knew there."""

    expected: frozenset[str]
    offset: int
    line_ended: bool
    read: tuple[Token, ...]


def explain(exc: UnexpectedInput, text: str) -> Explanation:
    """Why ``text`` does not parse, from the Lark error ``exc`` its parse raised."""
    failure = _failure(exc, text)
    if failure.expected & set(nodes.KEYWORDS):
        return _unknown_instruction(text, failure.offset)
    if not failure.read:
        return _expected(failure, text)
    if not failure.line_ended and not _blanks(text, failure.offset):
        return _run_on(failure, text)
    if NAME in failure.expected:
        return _at(text, failure.offset, _NEEDS_NAME)
    if ROLE in failure.expected:
        # The lexer stops at a blank when no role follows it: point past the blank.
        return _at(text, failure.offset + (not failure.line_ended), _NEEDS_ROLE)
    if VALUE in failure.expected and failure.line_ended:
        return _at(text, failure.offset, _missing_value(failure.read))
    if VALUE in failure.expected:
        return _unclosed(text, failure.offset, _subject(failure.read))
    return _expected(failure, text)


def _failure(exc: UnexpectedInput, text: str) -> _Failure:
    read = _read_so_far(exc)
    if isinstance(exc, UnexpectedCharacters):
        return _Failure(frozenset(exc.allowed), exc.pos_in_stream or 0, False, read)
    expected = frozenset[str](getattr(exc, "expected", ()))
    if isinstance(exc, UnexpectedToken) and exc.token.type != END:
        offset = exc.token.start_pos or 0
        return _Failure(expected, offset, exc.token.type == LINE_END, read)
    return _Failure(expected, len(text), True, read)  # LALR's $END, or Earley's UnexpectedEOF


def _read_so_far(exc: UnexpectedInput) -> tuple[Token, ...]:
    """The tokens of the instruction Lark was reading: its keyword, then a name or role.

    They end the parser's value stack: the items before them are reduced before the
    keyword is shifted.
    """
    state = getattr(getattr(exc, "interactive_parser", None), "parser_state", None)
    read: list[Token] = []
    for value in reversed(getattr(state, "value_stack", ())):
        if not isinstance(value, Token):
            break
        read.insert(0, value)
        if value.type in nodes.KEYWORDS:
            return tuple(read)
    return ()


def _run_on(failure: _Failure, text: str) -> Explanation:
    """The keyword, name or role just read runs on into text without a blank."""
    last = failure.read[-1]
    start = last.start_pos or 0
    if last.type in nodes.KEYWORDS:
        if text.startswith('"', failure.offset):
            return _at(text, failure.offset, f"{str(last).upper()} needs a blank before its value")
        return _unknown_instruction(text, start)
    bad = str(last)[1:] + _word(text, failure.offset)
    if last.type == NAME:
        return _at(text, start + 1, f"parameter name {bad!r} may hold only letters, digits and '_'")
    return _at(text, start + 1, f"message role must be system, user or assistant, not {bad!r}")


def _missing_value(read: tuple[Token, ...]) -> str:
    keyword, *named = read
    if not named:
        return f"{str(keyword).upper()} needs a value"
    if named[0].type == NAME:
        return f"{_subject(read)} needs a value, e.g. PARAMETER temperature 0.7"
    return f"{_subject(read)} needs content, e.g. MESSAGE user Hello"


def _subject(read: tuple[Token, ...]) -> str:
    """What a value belongs to, as the user wrote it: ``SYSTEM``, ``PARAMETER top_k``."""
    keyword, *named = read
    return " ".join([str(keyword).upper(), *(str(token)[1:] for token in named)]).rstrip()


def _unclosed(text: str, offset: int, subject: str) -> Explanation:
    """The VALUE terminal could not be read at ``offset``: a quoted value that does not
    close at a line end, either never (unterminated) or with text after its close."""
    body = offset + _blanks(text, offset)
    quote = TRIPLE if text.startswith(TRIPLE, body) else '"'
    close = text.find(quote, body + len(quote))
    end = close + len(quote)
    # The grammar would read the value if its line ended right after the close quote.
    if close != -1 and _terminal(VALUE).match(text, offset, end):
        return _at(
            text,
            end + _blanks(text, end),
            f"text after the closing {quote} of the {subject} value; a quoted value must end "
            "its line (quote the whole value, or write it without quotes)",
        )
    return _at(
        text,
        body,
        f"unterminated {quote} string in the {subject} value: no closing {quote} "
        "at the end of a line",
    )


def _unknown_instruction(text: str, offset: int) -> Explanation:
    word = _word(text, offset)
    if not word:
        return _at(text, offset, "expected an instruction")
    guess = difflib.get_close_matches(word.upper()[:20], nodes.KEYWORDS, n=1, cutoff=0.6)
    hint = f"; did you mean {guess[0]}?" if guess else ""
    known = ", ".join(nodes.KEYWORDS)
    shown = word if len(word) <= 40 else word[:40] + "…"
    return _at(text, offset, f"unknown instruction {shown!r}{hint} (instructions: {known})")


def _expected(failure: _Failure, text: str) -> Explanation:
    """What Lark expected, in words: for a failure none of the above explains."""
    wanted = sorted(_CALLED.get(name, name) for name in failure.expected) or ["more text"]
    return _at(text, failure.offset, f"expected {' or '.join(wanted)}")


def _at(text: str, offset: int, message: str) -> Explanation:
    return Explanation(message, *source.line_and_column(text, offset))


def _word(text: str, offset: int) -> str:
    """The text at ``offset`` up to the next blank or line end, to quote it back."""
    end = _terminal(f"{BLANKS}|{LINE_END}").search(text, offset)
    return text[offset : end.start() if end else len(text)]


def _blanks(text: str, offset: int) -> int:
    """How many blanks (the grammar's ``_INDENT`` terminal) start at ``offset``."""
    match = _terminal(BLANKS).match(text, offset)
    return match.end() - offset if match else 0


@functools.cache
def _terminal(names: str) -> re.Pattern[str]:
    """The grammar's terminal ``names`` (or ``A|B``: either) as a compiled pattern."""
    return re.compile("|".join(f"(?:{tables.terminal_pattern(name)})" for name in names.split("|")))
