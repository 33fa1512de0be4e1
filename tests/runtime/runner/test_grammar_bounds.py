"""Issue 16, item 4: a schema decides a grammar's size and its cost at every token, so
the schema is bounded before anything is converted; what passes makes a grammar that
llama.cpp accepts, and anything the converter chokes on is a clear refusal."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ladle.errors import InvalidRequestError
from runtime.runner import grammar_for_format
from runtime.runner.grammar import MAX_GRAMMAR_CHARS
from runtime.runner.schema_limits import (
    MAX_ALL_PROPERTIES,
    MAX_ALTERNATIVES,
    MAX_PROPERTIES,
    MAX_REPETITION,
    MAX_REPETITIONS,
    MAX_SCHEMA_CHARS,
    MAX_SCHEMA_DEPTH,
)

REFUSED_AT_ONCE_S = 0.5
"""A refusal reads the schema, never builds the grammar: milliseconds."""


def _strings(**bounds: Any) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, **bounds}


def _nested(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "array", "items": schema}
    return schema


def _object(count: int, **member: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {f"p{i}": member or {"type": "integer"} for i in range(count)},
    }


OVER_THE_BOUNDS = {
    # the issue's: 168 bytes that took the server to 610 MB, and one that never finished
    "minItems 10**7": (_strings(minItems=10**7), "minItems is 10,000,000"),
    "minItems 10**9": (_strings(minItems=10**9), "minItems is 1,000,000,000"),
    "maxItems": (_strings(maxItems=MAX_REPETITION + 1), "maxItems is 1,001"),
    "minLength": ({"type": "string", "minLength": 10**6}, "minLength is 1,000,000"),
    "maxLength": ({"type": "string", "maxLength": 5000}, "maxLength is 5,000"),
    "a pattern's count": ({"type": "string", "pattern": "^a{0,100000}$"}, "counts to 100000"),
    "a pattern's huge count": (
        {"type": "string", "pattern": "^a{" + "9" * 5000 + "}$"},
        "counts to",
    ),
    "a negative count": (_strings(maxItems=-1), "whole number"),
    "a count that is not whole": (_strings(minItems=2.5), "whole number"),
    "a count that is a boolean": (_strings(minItems=True), "whole number"),
    "counts in all": (_object(40, type="string", maxLength=900), "counts"),
    # the issue's: 100,000 enum values made each token take over 20 s
    "an enum of 100,000": ({"enum": [f"v{i}" for i in range(100_000)]}, "characters of JSON"),
    "alternatives in all": ({"enum": list(range(MAX_ALTERNATIVES + 1))}, "alternatives"),
    "anyOf branches": (
        {"anyOf": [{"const": i} for i in range(MAX_ALTERNATIVES + 1)]},
        "alternatives",
    ),
    "a long const": ({"const": "x" * MAX_SCHEMA_CHARS}, "characters of JSON"),
    "one wide object": (_object(MAX_PROPERTIES + 1), f"at most {MAX_PROPERTIES}"),
    "properties in all": (
        {
            "anyOf": [
                _object(MAX_PROPERTIES) for _ in range(MAX_ALL_PROPERTIES // MAX_PROPERTIES + 1)
            ]
        },
        "properties",
    ),
    "deep nesting": (_nested(MAX_SCHEMA_DEPTH), "nests deeper"),
    "a count hidden in a const": ({"const": {"minItems": 10**9}}, "minItems"),
}


@pytest.mark.parametrize(
    ("schema", "says"), list(OVER_THE_BOUNDS.values()), ids=list(OVER_THE_BOUNDS)
)
def test_a_schema_over_the_bounds_is_refused_before_conversion(
    schema: dict[str, Any], says: str
) -> None:
    started = time.monotonic()
    with pytest.raises(InvalidRequestError, match="cannot be a grammar") as refused:
        grammar_for_format(schema)
    assert says in str(refused.value)
    assert time.monotonic() - started < REFUSED_AT_ONCE_S


UNCONVERTIBLE = {
    "no type (the issue's 500)": ({"foo": None}, "Unrecognized schema"),
    "a boolean subschema": ({"type": "object", "properties": {"a": True}}, "bool"),
    "a pattern without anchors": ({"type": "string", "pattern": "abc"}, "must start with"),
    "a pattern that starts with a quantifier": ({"type": "string", "pattern": "^*$"}, "index"),
    "a remote reference": ({"$ref": "https://example.com/schema.json"}, "remote"),
    "a reference to nothing": ({"$ref": "#/definitions/missing"}, "missing"),
    "a pattern nested too deeply": (
        {"type": "string", "pattern": "^" + "(" * 2000 + "a" + ")" * 2000 + "$"},
        "nest too deeply",
    ),
}


@pytest.mark.parametrize(("schema", "says"), list(UNCONVERTIBLE.values()), ids=list(UNCONVERTIBLE))
def test_a_schema_the_converter_cannot_handle_is_a_clear_refusal(
    schema: dict[str, Any], says: str
) -> None:
    """The converter's assertions, key, type and recursion errors on a user's schema
    are the schema's fault: an ``InvalidRequestError`` (a 400), never a 500."""
    with pytest.raises(InvalidRequestError, match="cannot turn this JSON schema") as refused:
        grammar_for_format(schema)
    assert says in str(refused.value)
    assert len(str(refused.value)) < 500  # the converter's messages quote the schema


AT_THE_BOUNDS = {
    "maxItems": _strings(maxItems=MAX_REPETITION),
    "minItems": _strings(minItems=MAX_REPETITION),
    "maxLength": {"type": "string", "maxLength": MAX_REPETITION},
    "a pattern's count": {"type": "string", "pattern": f"^(ab|c){{0,{MAX_REPETITION}}}$"},
    "an enum": {"enum": [f"value-{i}" for i in range(MAX_ALTERNATIVES)]},
    "a wide object": _object(MAX_PROPERTIES),
    "deep nesting": _nested(MAX_SCHEMA_DEPTH // 2 - 1),
    "counts in all": _object(
        MAX_REPETITIONS // MAX_REPETITION, type="string", maxLength=MAX_REPETITION
    ),
}


@contextlib.contextmanager
def _vocabulary(model: Path) -> Iterator[Any]:
    """The llama.cpp vocabulary of ``model`` (no weights, no context)."""
    import llama_cpp

    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    loaded = llama_cpp.llama_model_load_from_file(str(model).encode(), params)
    assert loaded
    try:
        yield llama_cpp.llama_model_get_vocab(loaded)
    finally:
        llama_cpp.llama_model_free(loaded)


def test_schemas_at_the_bounds_make_grammars_llama_cpp_accepts(tiny_model: Path) -> None:
    """The bounds are within what llama.cpp parses (it refuses nesting much deeper than
    a count of 1,000 writes), so a schema that passes fails nowhere later."""
    import llama_cpp

    with _vocabulary(tiny_model) as vocab:
        for name, schema in AT_THE_BOUNDS.items():
            grammar = grammar_for_format(schema)
            assert len(grammar) <= MAX_GRAMMAR_CHARS, name
            sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
            assert sampler, f"llama.cpp refused the grammar of {name}"
            llama_cpp.llama_sampler_free(sampler)


def test_a_count_past_the_bound_is_one_llama_cpp_would_refuse(tiny_model: Path) -> None:
    """Why the bound is 1,000: the converter's grammar for 1,500 fails in llama.cpp."""
    import llama_cpp

    from runtime.runner.grammar import _converter

    grammar = _converter().json_schema_to_gbnf(json.dumps(_strings(maxItems=1500)))
    with _vocabulary(tiny_model) as vocab:
        assert not llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")


def test_the_grammar_is_bounded_after_conversion_too() -> None:
    """Counts within their bounds can still add up to a grammar too long to parse at
    every request (the converter repeats an item's rule name, here a long one, for each
    item): it is measured once written."""
    item = {"type": "object", "properties": {"a": {"type": "integer"}}}
    many = {"type": "array", "items": item, "minItems": MAX_REPETITION}
    names = {"n" * 200 + str(i): many for i in range(5)}
    schema = {"type": "object", "properties": names}
    with pytest.raises(InvalidRequestError, match=f"at most {MAX_GRAMMAR_CHARS:,}"):
        grammar_for_format(schema)


def test_everyday_schemas_still_convert() -> None:
    person = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 80},
            "age": {"type": "integer"},
            "email": {"type": "string", "format": "email"},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 10},
            "kind": {"enum": ["a", "b", "c"]},
            "address": {"$ref": "#/$defs/address"},
        },
        "required": ["name"],
        "$defs": {"address": {"type": "object", "properties": {"city": {"type": "string"}}}},
    }
    assert "root ::=" in grammar_for_format(person)


_COUNTS = st.one_of(st.integers(-2, 3000), st.sampled_from([10**7, 10**12]), st.floats(0, 5))
_SCHEMAS = st.recursive(
    st.sampled_from([{"type": t} for t in ("string", "integer", "number", "boolean", "null")])
    | st.builds(lambda n: {"type": "string", "maxLength": n}, _COUNTS)
    | st.builds(lambda n: {"type": "string", "pattern": f"^a{{0,{n}}}$"}, st.integers(0, 3000))
    | st.builds(lambda vs: {"enum": vs}, st.lists(st.text(max_size=8), min_size=1, max_size=30)),
    lambda inner: (
        st.builds(lambda s, n: {"type": "array", "items": s, "minItems": n}, inner, _COUNTS)
        | st.builds(
            lambda props: {"type": "object", "properties": props},
            st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=8),
        )
        | st.builds(lambda branches: {"anyOf": branches}, st.lists(inner, min_size=1, max_size=4))
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_SCHEMAS)
def test_any_schema_makes_a_bounded_grammar_quickly_or_a_clear_refusal(
    schema: dict[str, Any],
) -> None:
    started = time.monotonic()
    try:
        grammar = grammar_for_format(schema)
    except InvalidRequestError:
        pass
    else:
        assert len(grammar) <= MAX_GRAMMAR_CHARS
    assert time.monotonic() - started < 1.0
