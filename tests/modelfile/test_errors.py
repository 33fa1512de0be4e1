"""The error messages users see, pinned by snapshots (``__snapshots__/test_errors.ambr``).

Each case is a broken Modelfile named by what is wrong with it; its snapshot is the full
text a user reads: ``file:line:col: error: reason``, the source line and a caret under
the column. The ``.ambr`` file is meant to be read as a catalogue of messages.
"""

from __future__ import annotations

import pytest
from syrupy.assertion import SnapshotAssertion

import modelfile
from ladle.errors import ModelfileError

PATH = "Modelfile"

BROKEN: dict[str, str | bytes] = {
    # Instructions.
    "unknown-instruction-near-miss-from": "FORM smollm2:135m\n",
    "unknown-instruction-near-miss-parameter": "FROM smollm2\nPARAMTER temperature 0.7\n",
    "unknown-instruction-indented": "FROM smollm2\n    SYTEM You are terse.\n",
    "unknown-instruction-far-from-any": "FROM smollm2\nBOGUS thing\n",
    "keyword-glued-to-text": "FROM1 smollm2\n",
    "keyword-glued-to-quote": 'FROM smollm2\nSYSTEM"You are terse."\n',
    "keyword-without-value-end-of-line": "FROM smollm2\nSYSTEM\nPARAMETER temperature 1\n",
    "keyword-without-value-at-eof": "FROM smollm2\nTEMPLATE",
    # PARAMETER.
    "parameter-without-name": "FROM smollm2\nPARAMETER\n",
    "parameter-without-value": "FROM smollm2\nPARAMETER temperature\n",
    "parameter-without-value-trailing-blank": "FROM smollm2\nPARAMETER temperature \n",
    "parameter-name-with-dash": "FROM smollm2\nPARAMETER top-k 40\n",
    "parameter-double-blank": "FROM smollm2\nPARAMETER  temperature 0.7\n",
    "parameter-unknown-near-miss": "FROM smollm2\nPARAMETER temprature 0.7\n",
    "parameter-int-wrong-type": "FROM smollm2\nPARAMETER num_ctx 4k\n",
    "parameter-int-given-float": "FROM smollm2\nPARAMETER num_ctx 2048.0\n",
    "parameter-float-wrong-type": "FROM smollm2\nPARAMETER temperature warm\n",
    "parameter-float-nan": "FROM smollm2\nPARAMETER temperature nan\n",
    "parameter-bool-wrong-type": "FROM smollm2\nPARAMETER use_mmap yes\n",
    "parameter-top-p-above-range": "FROM smollm2\nPARAMETER top_p 1.5\n",
    "parameter-num-batch-past-ceiling": "FROM smollm2\nPARAMETER num_batch 1000000000000\n",
    "parameter-num-thread-past-ceiling": "FROM smollm2\nPARAMETER num_thread 1000000\n",
    "parameter-num-ctx-zero": "FROM smollm2\nPARAMETER num_ctx 0\n",
    # MESSAGE.
    "message-unknown-role": "FROM smollm2\nMESSAGE robot beep\n",
    "message-capitalised-role": "FROM smollm2\nMESSAGE User Hello\n",
    "message-role-with-colon": "FROM smollm2\nMESSAGE user: Hello\n",
    "message-double-blank": "FROM smollm2\nMESSAGE  user Hello\n",
    "message-without-content": "FROM smollm2\nMESSAGE user\n",
    "message-without-role": "FROM smollm2\nMESSAGE\n",
    # Quoting.
    "unterminated-quote": 'FROM smollm2\nSYSTEM "You are\nterse.\n',
    "unterminated-triple-quote": 'FROM smollm2\nTEMPLATE """{{ .Prompt }}\n\n',
    "text-after-closing-quote": 'FROM smollm2\nSYSTEM "Be terse." always\n',
    "text-after-closing-triple-quote": 'FROM smollm2\nSYSTEM """Be terse.""" always\n',
    "text-after-closing-triple-quote-multiline": ('FROM smollm2\nSYSTEM """Be\nterse.""" always\n'),
    # FROM and REQUIRES.
    "no-from": "SYSTEM You are terse.\n",
    "empty-file": "",
    "only-comments": "# a Modelfile to be\n",
    "from-empty-value": "FROM \n",
    "requires-not-a-version": "FROM smollm2\nREQUIRES abc\n",
    # Bytes and characters.
    "invalid-utf8-latin1-file": b"FROM smollm2\nSYSTEM caf\xe9\n",
    "control-character": "FROM smollm2\nSYSTEM a\x07b\n",
}


def _error(text: str | bytes) -> ModelfileError:
    with pytest.raises(ModelfileError) as caught:
        modelfile.parse(text, PATH).validate()
    return caught.value


@pytest.mark.parametrize("text", BROKEN.values(), ids=BROKEN.keys())
def test_error_message(text: str | bytes, snapshot: SnapshotAssertion) -> None:
    error = _error(text)
    assert error.path == PATH
    shown = error.diagnostic.source_line
    if shown is not None:
        assert 1 <= error.column <= len(shown) + 1, "the caret is outside the source line"
    assert str(error) == snapshot


MANY_PROBLEMS = """\
FROM smollm2:135m
SYSTEM You are terse.
PARAMETER temperature 0.7
PARAMETER mirostat 2
PARAMETER temprature 0.5
SYSTEM \"\"\"You are kind.\"\"\"
PARAMETER temperature 0.9
PARAMETER num_ctx big
PARAMETER top_p 1.5
PARAMETER stop <|im_end|>
PARAMETER stop <|eot_id|>
"""


def test_check_reports_every_problem_in_file_order(snapshot: SnapshotAssertion) -> None:
    diagnostics = modelfile.check(modelfile.parse(MANY_PROBLEMS, PATH))
    assert [str(diagnostic) for diagnostic in diagnostics] == snapshot


def test_validate_raises_the_first_error_that_check_reports() -> None:
    parsed = modelfile.parse(MANY_PROBLEMS, PATH)
    first = next(d for d in modelfile.check(parsed) if d.severity == "error")
    with pytest.raises(ModelfileError) as caught:
        parsed.validate()
    assert caught.value.diagnostic == first


# Messages that mislead; each test says what the message should say instead.


def test_text_after_a_multiline_closing_quote_is_reported_where_it_is() -> None:
    error = _error('FROM smollm2\nSYSTEM """Be\nterse.""" always\n')
    assert "text after the closing" in error.reason
    assert (error.line, error.column) == (3, 11)


def test_parameter_with_only_blanks_after_its_name_needs_a_value() -> None:
    error = _error("FROM smollm2\nPARAMETER temperature \n")
    assert "needs a value" in error.reason


def test_value_starting_with_a_unicode_space_keeps_it() -> None:
    # Ollama drops non-printable characters; ladle keeps every character but controls.
    parsed = modelfile.parse("FROM smollm2\nSYSTEM \u00a0You are terse.\n")
    assert parsed.validate().system == "\u00a0You are terse."
