"""The sandbox's size model: how big a value prints, and the estimates of what an
operation would make, checked against what Python actually makes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2.utils import Namespace

from builder.templates.sandbox_calls import join_size, replace_size
from builder.templates.sandbox_sizes import (
    MAX_DEPTH,
    MAX_INT_BITS,
    MAX_ITEMS,
    Bounds,
    Size,
    binop_size,
    format_size,
    measure,
    printf_size,
)
from ladle.errors import TemplateError

UNLIMITED = 1 << 62
SIZE = Size(Bounds(UNLIMITED), "a value")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=40,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_a_value_measures_at_least_as_long_as_it_prints(value: Any) -> None:
    """The size is an upper bound on ``str()`` (give or take escapes, which a printable
    text has none of) and within a small factor of it: what the limits compare."""
    size = SIZE(value)
    printed = len(str(value)) if not isinstance(value, str) else len(value)
    escapes = sum(len(repr(s)) - len(s) - 2 for s in _strings(value))
    assert size + escapes >= printed
    assert size <= 3 * printed + 32


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for pair in value.items() for part in pair for s in _strings(part)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def test_a_shared_item_counts_each_time_it_is_printed() -> None:
    big = "x" * 1000
    assert SIZE([big] * 10) >= 10_000
    with pytest.raises(TemplateError, match="would exceed 5000 characters"):
        measure([[big] * 10] * 3, 5000, "a list")


def test_a_measure_stops_at_the_limit_not_at_the_end() -> None:
    """A value far over the limit costs about the limit to refuse: the walk stops."""
    nested: list[Any] = ["x" * 100]
    for _ in range(20):  # 2**20 strings of 100 characters, by reference
        nested = [nested, nested]
    with pytest.raises(TemplateError, match="exceed 10000"):
        measure(nested, 10_000, "a list")


def test_a_value_that_contains_itself_is_refused_not_followed() -> None:
    namespace = Namespace()
    namespace["me"] = namespace
    with pytest.raises(TemplateError, match=f"deeper than {MAX_DEPTH} levels"):
        measure(namespace, UNLIMITED, "a namespace")


def test_a_namespace_measures_by_its_attributes() -> None:
    """jinja2 keeps a namespace's attributes in ``_Namespace__attrs``, which its repr
    prints and which has no public way in; if jinja2 moves it, this fails first."""
    namespace = Namespace(text="x" * 5000)
    assert SIZE(namespace) >= 5000
    assert object.__getattribute__(namespace, "_Namespace__attrs") == {"text": "x" * 5000}


def test_containers_are_capped_in_items() -> None:
    with pytest.raises(TemplateError, match=f"would exceed {MAX_ITEMS} items"):
        measure(list(range(MAX_ITEMS + 1)), UNLIMITED, "a list")
    assert measure(list(range(MAX_ITEMS + 1)), UNLIMITED, "input", None, UNLIMITED).widest > 0


def test_the_measure_reports_items_and_depth() -> None:
    found = measure({"a": [1, [2, 3]], "b": "xy"}, UNLIMITED, "a value")
    assert (found.items, found.widest, found.depth) == (8, 4, 3)


@pytest.mark.parametrize(
    ("left", "operator", "right", "made"),
    [
        ("ab", "*", 1000, "ab" * 1000),
        (3, "*", ["a", "b"], ["a", "b"] * 3),
        ("abc", "+", "defg", "abcdefg"),
        ([1, "two"], "+", [3], [1, "two", 3]),
        (
            "%s and %5d and %-8s",
            "%",
            ("x" * 50, 7, "y"),
            "%s and %5d and %-8s" % ("x" * 50, 7, "y"),  # noqa: UP031 - % is the subject
        ),
        ("%(a)s%(a)s", "%", {"a": "x" * 100}, "x" * 200),
        ("%*d", "%", (500, 1), "%*d" % (500, 1)),  # noqa: UP031
    ],
)
def test_operator_estimates_bound_what_python_makes(
    left: Any, operator: str, right: Any, made: Any
) -> None:
    assert binop_size(operator, left, right, SIZE) >= SIZE(made)


@pytest.mark.parametrize(
    ("left", "operator", "right"),
    [
        (2, "**", MAX_INT_BITS + 1),
        (2**1024, "**", 1024),
        (3**2000, "*", 3**2000),
    ],
)
def test_integers_past_the_cap_are_refused_before_python_starts(
    left: int, operator: str, right: int
) -> None:
    with pytest.raises(TemplateError, match=f"larger than {MAX_INT_BITS} bits"):
        binop_size(operator, left, right, SIZE)


@pytest.mark.parametrize(("base", "exponent"), [(2, 4000), (10, 1000), (1, 10**30), (-1, 10**9)])
def test_powers_within_the_cap_are_allowed(base: int, exponent: int) -> None:
    assert binop_size("**", base, exponent, SIZE) == 0


def test_a_repetition_past_the_item_cap_is_refused() -> None:
    with pytest.raises(TemplateError, match=f"would exceed {MAX_ITEMS} items"):
        binop_size("*", [1, 2], MAX_ITEMS, SIZE)
    with pytest.raises(TemplateError, match=f"would exceed {MAX_ITEMS} items"):
        binop_size("+", [1] * MAX_ITEMS, [2], SIZE)


def test_the_bounds_widen_to_the_variables_once_a_value_passes_them() -> None:
    """Taking apart a conversation bigger than the cap is not refused: the limits grow
    to the variables' size and widest list, measured only when first needed."""
    given = {"messages": ["x" * 5000] * 3, "ids": list(range(MAX_ITEMS + 5))}
    bounds = Bounds(1000, given)
    size = Size(bounds, "a value")
    size.check(4000)
    assert bounds.chars > 15_000 and bounds.items == MAX_ITEMS + 5
    size.check_items(MAX_ITEMS + 5)
    with pytest.raises(TemplateError, match="exceed"):
        size.check(bounds.chars + 1)
    assert Bounds(1000).widen() is False


@pytest.mark.parametrize(
    ("template", "args", "kwargs"),
    [
        ("{0}{0}{0}", ("x" * 100,), {}),
        ("{:>500}|{:.3}", ("a", "bcdef"), {}),
        ("{a}{b}", (), {"a": "x" * 50, "b": [1, 2]}),
        ("{:{}}", ("a", 300), {}),
        ("{0[0]}{1.real}", ([1, 2], 5), {}),
    ],
)
def test_format_estimates_bound_what_python_makes(
    template: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    made = template.format(*args, **kwargs)
    assert format_size(template, args, kwargs, SIZE) >= len(made)


def test_printf_estimates_count_every_conversion() -> None:
    template = "%s" * 1000
    assert printf_size(template, ("x" * 1000,) * 1000, SIZE) >= 1_000_000
    assert printf_size("%(a)s" * 10, {"a": "x" * 10}, SIZE) >= 100


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.text(max_size=4), st.text(max_size=6), st.integers(-2, 50))
def test_replace_estimates_are_exact(text: str, old: str, new: str, count: int) -> None:
    assert replace_size(text, old, new, count) >= len(text.replace(old, new, count))


@settings(max_examples=100, deadline=None)
@given(st.lists(json_values, max_size=8), st.text(max_size=5))
def test_join_estimates_bound_the_join(items: list[Any], separator: str) -> None:
    made = separator.join(map(str, items))
    escapes = sum(len(repr(s)) - len(s) - 2 for s in _strings(items))
    assert join_size(separator, items, SIZE) + escapes >= len(made)


def test_json_escapes_are_within_the_margin_the_limits_leave() -> None:
    """Refusals compare the size to the limit; escaping (JSON's ``\\u0000``) can make the
    text longer, and the result is then checked once made."""
    text = "\x00" * 100
    assert len(json.dumps(text)) <= 6 * SIZE(text) + 2
