"""Known chat-template families, detected as Ollama's ``template.Named`` detects them."""

from __future__ import annotations

import json
from importlib.resources import files

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builder.templates.chat_template import DEFAULT_TEMPLATE
from builder.templates.family import MAX_DISTANCE, Family, detect_family, levenshtein
from tests.builder.templates.test_chat_template import _smollm2_chat_template
from tests.conftest import load_fixture_json

CASES = load_fixture_json("ollama", "ollama_template_cases.json")
INDEX = CASES["index"]


def test_the_shipped_index_is_ollamas() -> None:
    shipped = json.loads(
        files("builder.templates").joinpath("template_families.json").read_text("utf-8")
    )
    assert shipped["index"] == INDEX
    names = {entry["name"] for entry in INDEX}
    assert shipped["stop"] == {
        name: CASES["templates"][name]["params_json"]["stop"] for name in names
    }


@pytest.mark.parametrize("entry", INDEX, ids=[f"{i}-{e['name']}" for i, e in enumerate(INDEX)])
def test_every_index_template_is_its_family(entry: dict[str, str]) -> None:
    family = detect_family(entry["template"])
    assert family is not None and (family.name, family.distance) == (entry["name"], 0)
    assert list(family.stop) == CASES["templates"][entry["name"]]["params_json"]["stop"]


def test_a_near_template_is_detected_and_a_far_one_is_not() -> None:
    llama3 = next(entry["template"] for entry in INDEX if entry["name"] == "llama3-instruct")
    near = llama3.replace("message['content']", "message.content")
    assert detect_family(near) == Family(
        "llama3-instruct", ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"), 4
    )
    assert detect_family(llama3[:-MAX_DISTANCE] + "x" * MAX_DISTANCE) is None
    assert detect_family("") is None
    # Ollama's rule is absolute, not relative: a short template of any kind may be close
    # enough to a short index entry (ladle's default template is 64 edits from ChatML).
    family = detect_family(DEFAULT_TEMPLATE)
    assert family is not None and (family.name, family.distance) == ("chatml", 64)


def test_default_params() -> None:
    chatml = detect_family(INDEX[0]["template"])
    assert chatml is not None
    assert chatml.default_params() == {"stop": ["<|im_start|>", "<|im_end|>"]}
    assert Family("x", (), 0).default_params() == {}


def test_smollm2_is_chatml() -> None:
    family = detect_family(_smollm2_chat_template())
    assert family is not None and family.name == "chatml"


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            )
        previous = current
    return previous[-1]


@given(st.text("abc\u00e9\U0001f600", max_size=80), st.text("abcd\U0001f600", max_size=80))
def test_levenshtein_is_the_edit_distance(a: str, b: str) -> None:
    assert levenshtein(a, b) == _edit_distance(a, b) == levenshtein(b, a)
