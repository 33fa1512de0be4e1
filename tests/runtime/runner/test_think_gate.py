"""A format after the thoughts (:class:`runtime.runner.sampling.ThinkGate`): the grammar
waits for the reasoning's closing tag, or governs from the first token when the reply
does not open its reasoning."""

from __future__ import annotations

from pathlib import Path

from runtime.protocol import GenerateRequest, SamplingOptions
from runtime.runner.engine import Engine
from runtime.runner.sampling import ThinkGate

from .stepping import Outputs, loaded

YES_OR_NO = 'root ::= "yes" | "no"\n'


def test_the_gate_opens_after_the_closing_tag() -> None:
    gate = ThinkGate("</think>", "<think>")
    assert [gate.passed(piece) for piece in (b"\n", b"<th", b"ink>", b"hm", b"</think>")] == [
        False
    ] * 5
    assert gate.passed(b"{") and gate.passed(b"anything")


def test_a_reply_that_does_not_open_its_reasoning_is_governed_at_once() -> None:
    gate = ThinkGate("</think>", "<think>")
    assert not gate.passed(b" ")  # whitespace decides nothing
    assert gate.passed(b"{")


def test_when_the_prompt_opened_the_reasoning_it_runs_to_the_closing_tag() -> None:
    gate = ThinkGate("</think>", None)
    assert not gate.passed(b"{") and not gate.passed(b"so </thi")
    assert not gate.passed(b"nk>") and gate.passed(b"x")


def _answer(tiny_model: Path, unless: str | None) -> str:
    request = GenerateRequest(
        prompt="hello",
        sampling=SamplingOptions(temperature=0),
        num_predict=6,
        grammar=YES_OR_NO,
        grammar_after="</think>",
        grammar_unless=unless,
    )
    with loaded(tiny_model) as model:
        engine = Engine(model)
        text, _ = Outputs(engine).run(1, request)
        engine.close()
    return text


def test_the_tiny_model_that_never_thinks_answers_in_the_format(tiny_model: Path) -> None:
    assert _answer(tiny_model, "<think>") in ("yes", "no")


def test_inside_its_reasoning_the_reply_is_free(tiny_model: Path) -> None:
    """The prompt opened the reasoning and the tiny model never closes it: no grammar."""
    assert _answer(tiny_model, None) not in ("yes", "no")
