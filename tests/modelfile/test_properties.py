"""Properties of the Modelfile language, checked on generated input (hypothesis).

* Any text or bytes: ``parse`` either returns a Modelfile or raises ``ModelfileError``,
  never anything else, and quickly.
* Valid Modelfiles, written line by line from the grammar's pieces in every spelling the
  grammar allows: they parse to the commands that were written, and ``format`` is a
  fixed point that keeps them.
* Typed parameters: every in-range value of every parameter validates to itself; wrong
  types and out-of-range values are errors on the parameter's line.
"""

from __future__ import annotations

import codecs
import contextlib
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import modelfile
from ladle.errors import ModelfileError
from modelfile.parameters import Parameters, kind_of

# The first example of a run also builds the Lark parser; every later one takes
# milliseconds. The deadline is the hang guard.
FAST = settings(max_examples=200, deadline=timedelta(seconds=2))

KEYWORDS = (
    "FROM",
    "PARAMETER",
    "MESSAGE",
    "TEMPLATE",
    "SYSTEM",
    "ADAPTER",
    "LICENSE",
    "REQUIRES",
    "DRAFT",
    "RENDERER",
    "PARSER",
)
# The command name Ollama's parser gives each single-value instruction.
COMMAND_NAMES = {
    "FROM": "model",
    "TEMPLATE": "template",
    "SYSTEM": "system",
    "ADAPTER": "adapter",
    "LICENSE": "license",
    "REQUIRES": "requires",
    "DRAFT": "draft",
    "RENDERER": "renderer",
    "PARSER": "parser",
}
ROLES = ("system", "user", "assistant")
BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
BOM_ENCODINGS = {codecs.BOM_UTF8: "utf-8", codecs.BOM_UTF16_LE: "utf-16-le"}
BOM_ENCODINGS[codecs.BOM_UTF16_BE] = "utf-16-be"


# Any input.

NOISE_PIECES = st.sampled_from(
    [
        *KEYWORDS,
        "from ",
        "FROM x\n",
        "PARAMETER temperature ",
        "PARAMETER  ",
        "MESSAGE user ",
        "MESSAGE User ",
        "SYSTEM ",
        '"""',
        '"',
        '""',
        "#",
        "\n",
        "\r\n",
        "\r",
        "\ufeff",
        " ",
        "\t",
        "\x00",
        "\x1b",
        "\x85",
        "\u2028",
        "temperature",
        "num_ctx",
        "0.7",
        "-1",
        "é",
    ]
)
NOISE = st.lists(st.one_of(st.text(max_size=6), NOISE_PIECES), max_size=24).map("".join)
NOISE_BYTES = st.one_of(
    st.binary(max_size=200),
    st.tuples(st.sampled_from((b"", *BOMS)), NOISE).map(
        lambda pair: (
            pair[0] + pair[1].encode(BOM_ENCODINGS.get(pair[0], "utf-8"), errors="surrogatepass")
        )
    ),
)


def _parse_or_explain(text: str | bytes) -> modelfile.Modelfile | None:
    """Parse ``text``; a refusal must be a located ``ModelfileError``."""
    try:
        return modelfile.parse(text)
    except ModelfileError as error:
        assert error.line >= 1
        assert error.column >= 1
        assert error.reason
        return None


def _meaning_never_crashes(parsed: modelfile.Modelfile) -> None:
    modelfile.check(parsed)
    with contextlib.suppress(ModelfileError):
        parsed.validate()


@FAST
@given(NOISE)
def test_any_text_parses_or_raises_modelfile_error(text: str) -> None:
    parsed = _parse_or_explain(text)
    if parsed is not None:
        _meaning_never_crashes(parsed)
        formatted = modelfile.format(parsed)
        assert modelfile.parse(formatted) == parsed


@FAST
@given(NOISE_BYTES)
def test_any_bytes_parse_or_raise_modelfile_error(data: bytes) -> None:
    parsed = _parse_or_explain(data)
    if parsed is not None:
        _meaning_never_crashes(parsed)


# Valid Modelfiles, built from the grammar's pieces.

FRAGMENTS = st.sampled_from(
    [
        *("a", "Z", "0", "_", " ", "\t", '"', '""', '"""', "#", "{{ .Prompt }}", "user:"),
        *("é", "😀", "\u00a0", "\u3000", "\u2028", "\ufeff", "FROM", "system", "\\n"),
    ]
)
# Text of one line: no line ends and no control characters (the tab is the one allowed).
LINE_TEXT = st.lists(
    st.one_of(FRAGMENTS, st.characters(exclude_categories=("Cs", "Cc"))), max_size=6
).map("".join)
BLANKS = st.text(alphabet=" \t", min_size=1, max_size=3)
OPTIONAL_BLANKS = st.text(alphabet=" \t", max_size=2)

# Where a quoted value would close early: a close quote followed by blanks and a line end.
SINGLE_CLOSES_EARLY = re.compile(r'"[ \t]*\r?\n')
TRIPLE_CLOSES_EARLY = re.compile(r'"""[ \t]*\r?\n')


@dataclass(frozen=True)
class Written:
    """A generated Modelfile and what it says."""

    text: str
    commands: list[tuple[str, str]]
    comments: list[str]


def any_case(word: str) -> st.SearchStrategy[str]:
    flags = st.lists(st.booleans(), min_size=len(word), max_size=len(word))
    return flags.map(
        lambda upper: "".join(
            c.upper() if u else c.lower() for c, u in zip(word, upper, strict=True)
        )
    )


@st.composite
def spelled_values(draw: st.DrawFn, eol: str) -> tuple[str, str]:
    """``(spelling, value)``: a value written so that it reads back as itself.

    The spelling follows the blanks after its keyword, name or role.
    """
    how = draw(st.sampled_from(["bare", "single", "triple", "empty"]))
    if how == "empty":
        return "", ""
    if how == "bare":
        value = draw(LINE_TEXT).strip(" \t")
        # A bare value starts with neither a quote nor a blank (other spaces are text).
        if not value or value[0] == '"':
            value = "v" + value
        return value, value
    value = eol.join(draw(st.lists(LINE_TEXT, min_size=1, max_size=3)))
    if how == "single":
        spelling = f'"{value}"'
        # Three quotes in a row open a triple-quoted value instead.
        assume(not spelling.startswith('"""') and not SINGLE_CLOSES_EARLY.search(value))
        return spelling, value
    assume(not TRIPLE_CLOSES_EARLY.search(value))
    return f'"""{value}"""', value


@st.composite
def instructions(draw: st.DrawFn, eol: str, keyword: str) -> tuple[str, tuple[str, str]]:
    """One instruction line (or several, for a multi-line value) and its command."""
    spelling, value = draw(spelled_values(eol))
    # An empty value is written as the blanks alone.
    tail = draw(BLANKS) + spelling + draw(OPTIONAL_BLANKS) if spelling else draw(BLANKS)
    head = draw(any_case(keyword))
    if keyword == "PARAMETER":
        name = draw(st.from_regex(r"[A-Za-z0-9_]{0,8}", fullmatch=True))
        head += draw(st.sampled_from(" \t")) + name
        command = (name, value)
    elif keyword == "MESSAGE":
        role = draw(st.sampled_from(ROLES))
        head += draw(st.sampled_from(" \t")) + role
        command = ("message", f"{role}: {value}")
    else:
        command = (COMMAND_NAMES[keyword], value)
    return draw(OPTIONAL_BLANKS) + head + tail, command


@st.composite
def modelfiles(draw: st.DrawFn) -> Written:
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    lines: list[str] = []
    commands: list[tuple[str, str]] = []
    comments: list[str] = []
    kinds = draw(st.lists(st.sampled_from(["blank", "comment", *KEYWORDS]), max_size=8))
    kinds.insert(draw(st.integers(0, len(kinds))), "FROM")
    for kind in kinds:
        if kind == "blank":
            lines.append(draw(OPTIONAL_BLANKS))
        elif kind == "comment":
            comment = "#" + draw(LINE_TEXT)
            lines.append(draw(OPTIONAL_BLANKS) + comment)
            comments.append(comment.rstrip(" \t"))
        else:
            line, command = draw(instructions(eol, kind))
            lines.append(line)
            commands.append(command)
    text = eol.join(lines) + draw(st.sampled_from(["", eol]))
    if draw(st.booleans()):
        text = "\ufeff" + text
    return Written(text, commands, comments)


VALID = settings(FAST, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])


@VALID
@given(modelfiles())
def test_valid_modelfile_parses_to_what_was_written(written: Written) -> None:
    parsed = modelfile.parse(written.text)
    assert parsed.commands == written.commands
    assert [comment.text for comment in parsed.comments] == written.comments


@VALID
@given(modelfiles(), st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
def test_valid_modelfile_reads_the_same_from_bytes(written: Written, encoding: str) -> None:
    # Python's "utf-16" writes a BOM, which is how Ollama tells UTF-16 apart.
    assert modelfile.parse(written.text.encode(encoding)) == modelfile.parse(written.text)


@VALID
@given(modelfiles())
def test_format_reads_back_and_is_a_fixed_point(written: Written) -> None:
    parsed = modelfile.parse(written.text)
    formatted = modelfile.format(parsed)
    reparsed = modelfile.parse(formatted)
    assert reparsed == parsed
    assert reparsed.commands == parsed.commands
    assert modelfile.format(reparsed) == formatted


# Typed parameters.

INT64 = 2**63
FLOAT32_OVERFLOW = 3.5e38  # above float32's largest value, even after rounding
# Go's strconv.ParseBool, which Ollama uses.
GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def _names(kind: str) -> list[str]:
    return [name for name in Parameters.model_fields if kind_of(name) == kind]


def _bound(name: str, which: str) -> float | None:
    metadata = Parameters.model_fields[name].metadata
    return next((getattr(m, which) for m in metadata if hasattr(m, which)), None)


def _lowest_int(name: str) -> int:
    ge, gt = _bound(name, "ge"), _bound(name, "gt")
    if ge is not None:
        return int(ge)
    return int(gt) + 1 if gt is not None else -INT64


def _file_with(name: str, text: str, lines_before: int) -> str:
    return "FROM smollm2\n" + "# note\n" * lines_before + f"PARAMETER {name} {text}\n"


def _validated(name: str, text: str) -> object:
    spec = modelfile.parse(_file_with(name, text, 0)).validate()
    return getattr(spec.parameters, name)


def _assert_refused_on_its_line(name: str, text: str, lines_before: int) -> None:
    parsed = modelfile.parse(_file_with(name, text, lines_before))
    with pytest.raises(ModelfileError) as caught:
        parsed.validate()
    assert caught.value.line == lines_before + 2
    assert caught.value.column == len(f"PARAMETER {name} ") + 1


@st.composite
def valid_ints(draw: st.DrawFn) -> tuple[str, str, int]:
    name = draw(st.sampled_from(_names("int")))
    high = _bound(name, "le")
    value = draw(st.integers(_lowest_int(name), INT64 - 1 if high is None else int(high)))
    # Go's strconv.ParseInt, base 10: an optional sign, leading zeros allowed.
    text = draw(st.sampled_from([str(value), f"{value:+d}", f"{value:04d}"]))
    return name, text, value


@st.composite
def valid_floats(draw: st.DrawFn) -> tuple[str, str, float]:
    name = draw(st.sampled_from(_names("float")))
    low, high = _bound(name, "ge"), _bound(name, "le")
    # Ollama reads floats with ParseFloat(text, 32): every float32 is in range.
    value = draw(st.floats(low, high, allow_nan=False, allow_infinity=False, width=32))
    return name, repr(value), value


@FAST
@given(st.one_of(valid_ints(), valid_floats()))
def test_in_range_number_validates_to_itself(case: tuple[str, str, float]) -> None:
    name, text, value = case
    validated = _validated(name, text)
    assert validated == value
    assert type(validated) is type(value)


@FAST
@given(
    st.sampled_from(_names("bool")),
    st.sampled_from(GO_TRUE + GO_FALSE),
)
def test_go_bool_spelling_validates(name: str, text: str) -> None:
    assert _validated(name, text) is (text in GO_TRUE)


@st.composite
def out_of_range(draw: st.DrawFn) -> tuple[str, str]:
    ints, floats = _names("int"), _names("float")
    choice = draw(st.sampled_from(["int-low", "int64", "float-low", "float-high", "float32"]))
    if choice == "int-low":
        name = draw(st.sampled_from([name for name in ints if _lowest_int(name) > -INT64]))
        number: float = draw(st.integers(-INT64, _lowest_int(name) - 1))
    elif choice == "int64":
        name = draw(st.sampled_from(ints))
        number = draw(st.one_of(st.integers(min_value=INT64), st.integers(max_value=-INT64 - 1)))
    elif choice == "float-low":
        name = draw(st.sampled_from([name for name in floats if _bound(name, "ge") is not None]))
        ge = _bound(name, "ge")
        number = draw(st.floats(max_value=ge, exclude_max=True, allow_infinity=False))
    elif choice == "float-high":
        name = draw(st.sampled_from([name for name in floats if _bound(name, "le") is not None]))
        le = _bound(name, "le")
        number = draw(st.floats(min_value=le, exclude_min=True, allow_infinity=False))
    else:
        name = draw(st.sampled_from(floats))
        huge = st.floats(min_value=FLOAT32_OVERFLOW, allow_infinity=False)
        number = draw(huge) * draw(st.sampled_from([1, -1]))
    return name, repr(number)


WORDS = st.from_regex(r"[A-Za-z][A-Za-z_]{0,7}", fullmatch=True).filter(
    lambda word: word.lower() not in ("inf", "infinity", "nan")
)


@st.composite
def wrong_types(draw: st.DrawFn) -> tuple[str, str]:
    kind = draw(st.sampled_from(["int", "float", "bool"]))
    name = draw(st.sampled_from(_names(kind)))
    if kind == "int":
        fraction = st.floats(allow_nan=False, allow_infinity=False).filter(
            lambda number: not number.is_integer()
        )
        text = draw(st.one_of(WORDS, fraction.map(repr), st.sampled_from(["1.0", "1e3", "0x10"])))
    elif kind == "float":
        text = draw(st.one_of(WORDS, st.sampled_from(["1,5", "0.7.1", "1e", "--1", "+-1"])))
    else:
        text = draw(st.one_of(WORDS, st.integers().map(str))).strip()
        assume(text not in GO_TRUE + GO_FALSE)
    return name, text


@FAST
@given(
    st.one_of(
        out_of_range(),
        wrong_types(),
        st.tuples(st.sampled_from(_names("float")), st.sampled_from(["nan", "inf", "-Infinity"])),
    ),
    st.integers(0, 3),
)
def test_bad_value_is_an_error_on_the_parameter_line(case: tuple[str, str], before: int) -> None:
    name, text = case
    _assert_refused_on_its_line(name, text, before)
