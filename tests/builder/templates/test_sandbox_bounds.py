"""Issue 16: no template can make a big value, hold the interpreter or outrun its time
limit. Every way to make a big value is bounded before it runs; what stays within the
limits renders exactly as jinja2's own sandbox renders it."""

from __future__ import annotations

import threading
import time
import tracemalloc
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2.sandbox import ImmutableSandboxedEnvironment

from builder.templates.chat_template import compile_template
from builder.templates.sandbox import PRINT_FACTOR, RenderLimits, tojson
from builder.templates.sandbox_compile import INLINE_COMPILE_CHARS, MAX_TEMPLATE_CHARS
from ladle.errors import TemplateError

CHAT = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
CAP = RenderLimits().max_output_chars
REFUSED_BEFORE_THE_WORK_S = 1.0
"""Refusals on an estimate take milliseconds; this leaves a loaded machine room."""
MEMORY_BOUND = 64 << 20
"""Python allocations a refused render may peak at: a few values at the 1 MiB cap."""

# Each makes (or tries to make) a value far past the limits, in one way; the second
# item is what the refusal says.
HOSTILE = {
    # issue 16, item 1: an 80-million-bit power, 21.6 s of one interpreter-held multiply
    "power tower": ("{% set x = ((2**1024)**1024)**16 %}{% set y = x**256 %}{{ y > 1 }}", "bits"),
    "squaring in a loop": (
        "{% set ns = namespace(x=3) %}{% for i in range(64) %}{% set ns.x = ns.x * ns.x %}"
        "{% endfor %}{{ ns.x > 0 }}",
        "bits",
    ),
    "int of a long string, squared": ("{{ ('9' * 4000)|int * ('9' * 4000)|int }}", "bits"),
    # issue 16, item 2: 27 doublings with ~ reached 128 MiB
    "~ doubling": (
        "{% set ns = namespace(s='a') %}{% for i in range(27) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s|length }}",
        "exceed",
    ),
    "+ doubling a list": (
        "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}"
        "{% endfor %}{{ ns.l|length }}",
        "exceed",
    ),
    "repetition of a big string": ("{{ ['x' * 1000000] * 100000 }}", "exceed"),
    "a literal of big values": ("{% set a = 'x' * 1000000 %}{{ [a, a, a]|length }}", "exceed"),
    "literals nested by reference": (
        "{% set a = 'x' * 200000 %}{% set b = [a, a, a, a] %}{{ [b, b, b, b]|length }}",
        "exceed",
    ),
    "% with many conversions": ("{{ ('%s' * 100000) % (('x' * 100,) * 100000) }}", "exceed"),
    "% with a mapping used often": ("{{ ('%(a)s' * 100000) % {'a': 'x' * 1000} }}", "exceed"),
    "% with a width from an argument": ("{{ '%*d' % (10**8, 1) }}", "exceed"),
    "format with many fields": ("{{ ('{0}' * 100000).format('x' * 1000) }}", "exceed"),
    "format with a nested width": ("{{ '{:{}}'.format('a', 10**8) }}", "exceed"),
    "format filter": ("{{ ('%s' * 1000)|format(*(['x' * 10000] * 1000)) }}", "exceed"),
    "replace method": ("{% set a = 'a' * 100000 %}{{ a.replace('a', a) }}", "exceed"),
    "replace filter": ("{% set a = 'a' * 100000 %}{{ a|replace('a', a) }}", "exceed"),
    "replace of the empty string": ("{{ ('x' * 10000).replace('', 'y' * 1000) }}", "exceed"),
    "expandtabs": ("{{ ('\t' * 100000).expandtabs(1000) }}", "exceed"),
    "center method": ("{{ 'x'.center(10**8) }}", "exceed"),
    "center filter": ("{{ 'x'|center(10**8) }}", "exceed"),
    "zfill": ("{{ '1'.zfill(10**8) }}", "exceed"),
    "indent of many lines": ("{{ ('\n' * 100000)|indent(1000) }}", "exceed"),
    "wordwrap with a long wrapstring": (
        "{{ ('a ' * 100000)|wordwrap(1, wrapstring='x' * 1000) }}",
        "exceed",
    ),
    "join with a long separator": ("{{ (range(5000)|list)|join('x' * 1000) }}", "exceed"),
    "join method of a generator": ("{{ ('x' * 1000).join(range(5000)|map('string')) }}", "exceed"),
    "batch padding": ("{{ [1]|batch(100000, 'x' * 1000)|list }}", "exceed"),
    "slice padding": ("{{ [1]|slice(5000, 'x' * 10000)|list }}", "exceed"),
    "sum of lists": ("{{ ([[1] * 1000] * 1000)|sum(start=[])|length }}", "exceed"),
    "tojson indented deep": ("{{ (range(9000)|list)|tojson(indent=100000) }}", "exceed"),
    "translate table": (
        "{% set t = ''.maketrans({'a': 'x' * 100000}) %}{{ ('a' * 100000).translate(t) }}",
        "exceed",
    ),
    "to_bytes": ("{{ (1).to_bytes(10**9, 'big') }}", "exceed"),
    "lipsum": ("{{ lipsum(100000, max=100) }}", "exceed"),
    "strftime of many fields": ("{{ strftime_now('%c' * 500000) }}", "exceed"),
    "dict.fromkeys": ("{{ {}.fromkeys(range(100000), 'x' * 1000) }}", "exceed"),
    "printing a namespace of big values": (
        "{% set ns = namespace(a='x' * 1000000) %}{{ [ns] * 100 }}",
        "exceed",
    ),
    "a namespace holding itself": (
        "{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}",
        "deeper",
    ),
    "lists nested deeply": (
        "{% set ns = namespace(l=[]) %}{% for i in range(200) %}{% set ns.l = [ns.l] %}"
        "{% endfor %}{{ ns.l|string }}",
        "deeper",
    ),
    "a macro printing in a loop": (
        "{% macro m() %}{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}{% endmacro %}"
        "{{ m()|length }}",
        "printed more than",
    ),
    "a set block printing in a loop": (
        "{% set b %}{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}{% endset %}"
        "{{ b|length }}",
        "printed more than",
    ),
    "a filter block of a loop": (
        "{% filter upper %}{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}"
        "{% endfilter %}",
        "printed more than",
    ),
}


@pytest.mark.parametrize(("source", "says"), list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_big_value_is_refused_before_it_is_made(source: str, says: str) -> None:
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(TemplateError, match=says):
            compile_template(source).render(CHAT)
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < REFUSED_BEFORE_THE_WORK_S
    assert peak < MEMORY_BOUND


def test_the_refusal_names_the_template_line() -> None:
    with pytest.raises(TemplateError) as refused:
        compile_template("one\n{{ 'x' * 10**9 }}", origin="Modelfile:3").render(CHAT)
    assert refused.value.line == 2 and refused.value.origin == "Modelfile:3"


# -- the value limit follows the variables ------------------------------------------------


def test_values_may_be_as_big_as_the_variables_the_template_was_given() -> None:
    """A conversation over the output cap can still be taken apart (and refused only
    when printed): the value limit is the output cap or the variables' size."""
    big = [{"role": "user", "content": "x" * (CAP + 1000)}, {"role": "assistant", "content": "y"}]
    kept = "{{ (messages|selectattr('role', 'eq', 'user')|list)[0].content|length }}"
    assert compile_template(kept).render(big) == str(CAP + 1000)
    doubled = "{{ (messages[0].content ~ messages[0].content)|length }}"
    with pytest.raises(TemplateError, match="exceed"):
        compile_template(doubled).render(big)
    with pytest.raises(TemplateError, match="output would exceed"):
        compile_template("{{ messages[0].content }}").render(big)


def test_a_render_may_print_several_times_its_output_into_macros() -> None:
    """A macro per message prints each message twice (into the macro, then out)."""
    source = (
        "{% macro turn(m) %}<{{ m.role }}>{{ m.content }}{% endmacro %}"
        "{% for m in messages %}{{ turn(m) }}{% endfor %}"
    )
    messages = [{"role": "user", "content": "x" * 1000}] * 500
    assert len(compile_template(source).render(messages)) == 500 * 1006
    assert PRINT_FACTOR >= 4


# -- time ---------------------------------------------------------------------------------


def test_a_render_that_runs_long_ends_at_its_deadline() -> None:
    """Each step is short, so the deadline, checked between steps, fires on time."""
    source = (
        "{% for i in range(100000) %}{% for j in range(100000) %}"
        "{% set x = ('x' * 1000000)|upper %}{% endfor %}{% endfor %}"
    )
    template = compile_template(source, limits=RenderLimits(seconds=0.3))
    started = time.monotonic()
    with pytest.raises(TemplateError, match=r"took longer than 0\.3 s"):
        template.render(CHAT)
    assert time.monotonic() - started < 0.3 + REFUSED_BEFORE_THE_WORK_S


def test_other_threads_run_while_a_render_does() -> None:
    """A render lets a waiting thread have the interpreter every few milliseconds: a
    thread counting while a long render runs keeps counting."""
    source = (
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ '' }}{% endfor %}{% endfor %}"
    )
    template = compile_template(source, limits=RenderLimits(seconds=0.5))
    ticks = 0
    done = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not done.is_set():
            time.sleep(0.001)
            ticks += 1

    counter = threading.Thread(target=count)
    counter.start()
    try:
        with pytest.raises(TemplateError, match="took longer"):
            template.render(CHAT)
    finally:
        done.set()
        counter.join()
    assert ticks >= 20  # 0.5 s; 1 ms sleeps; the render hands over at least every 5 ms


# -- compiling ------------------------------------------------------------------------------


def test_a_template_longer_than_a_modelfile_is_refused_unread() -> None:
    started = time.monotonic()
    with pytest.raises(TemplateError, match="at most 2,097,152"):
        compile_template("x" * (MAX_TEMPLATE_CHARS + 1))
    assert time.monotonic() - started < REFUSED_BEFORE_THE_WORK_S


def test_compiling_has_a_time_limit() -> None:
    source = "{{ (a + b) * c|length }}" * 20_000
    started = time.monotonic()
    with pytest.raises(TemplateError, match=r"compiling the template took longer than 0\.2 s"):
        compile_template(source, limits=RenderLimits(compile_seconds=0.2))
    assert time.monotonic() - started < 0.2 + REFUSED_BEFORE_THE_WORK_S


def test_a_long_template_compiles_in_a_child_process_and_renders_the_same() -> None:
    """Python's compiler holds the interpreter for its whole run: long generated code
    is compiled by a child interpreter, whose code object renders exactly the same."""
    source = "{% for m in messages %}[{{ m.role }}] {{ m.content|upper }}\n{% endfor %}" * 400
    plain = _plain()
    assert len(plain.compile(source, raw=True)) > INLINE_COMPILE_CHARS
    assert compile_template(source).render(CHAT) == plain.from_string(source).render(messages=CHAT)


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("{% for a in b %}" * 25 + "x" + "{% endfor %}" * 25, "nested blocks"),
        ("{{ " + "(" * 300 + "1" + ")" * 300 + " }}", "nests too deeply"),
        ("{{ " + "[" * 3000 + "]" * 3000 + " }}", "nests too deeply"),
    ],
    ids=["25 nested loops", "300 parentheses", "3000 brackets"],
)
def test_nesting_past_what_python_compiles_is_a_template_error(source: str, says: str) -> None:
    """Python's own limits surfaced as SyntaxError or RecursionError, a server's 500."""
    with pytest.raises(TemplateError, match=says):
        compile_template(source)


# -- what stays within the limits renders as before -----------------------------------------


def _plain() -> ImmutableSandboxedEnvironment:
    """jinja2's own sandbox, set up as transformers sets it up (ladle's is that, bounded)."""
    plain = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    plain.filters["tojson"] = tojson
    return plain


WITHIN = [
    "{{ 'a' * 10 }}{{ [1, 2] * 3 }}{{ 2 ** 100 }}{{ 7 // 2 }}{{ 7 / 2 }}{{ 7 % 3 }}{{ 1 - 5 }}",
    "{{ '%05d|%-4s|%.2f' % (42, 'ab', 3.14159) }}{{ '{:>6}|{:^5}'.format('x', 'y') }}",
    "{{ 'abc'|center(9) }}{{ 'a\nb'|indent(2, true) }}{{ 'a b c'|wordwrap(3) }}",
    "{{ [3, 1, 2]|sort|join(',') }}{{ [[1], [2]]|sum(start=[]) }}{{ range(5)|sum }}",
    "{{ messages|map(attribute='role')|join(' ') }}{{ messages|tojson(indent=2) }}",
    "{{ 'x' ~ 1 ~ none ~ [1] }}{% set l = [messages[0], {'k': (1, 2)}] %}{{ l }}",
    "{{ [1, 2, 3, 4]|batch(3, 0)|list }}{{ [1, 2, 3]|slice(2)|list }}{{ 'a-b'.split('-') }}",
    "{% macro m(x) %}<{{ x }}>{% endmacro %}{{ m('y') }}{% set b %}z{% endset %}{{ b }}",
    "{{ 'ab\tc'.expandtabs(4) }}{{ 'x'.zfill(3) }}{{ '{a}'.format_map({'a': 1}) }}",
    "{{ (messages|first).content|replace('h', 'H') }}{{ dict(a=1)|items|list }}",
    "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
    "{% endfor %}{{ ns.n }}{{ ns }}",
]


@pytest.mark.parametrize("source", WITHIN)
def test_templates_within_the_limits_render_as_jinja2s_sandbox_does(source: str) -> None:
    expected = _plain().from_string(source).render(messages=CHAT)
    assert compile_template(source).render(CHAT, add_generation_prompt=False) == expected


# -- fuzz: any composition of growing operations stays bounded -------------------------------

_NUMBERS = st.integers(min_value=-3, max_value=12) | st.sampled_from([2**62, 10**9, 10**6])
_LEAVES = st.sampled_from(["'ab'", "'x\\ty'", "'%s%s'", "'{0}{0}'", "[1, 'a']", "3", "-2"])


def _expression(depth: int) -> st.SearchStrategy[str]:
    if depth == 0:
        return _LEAVES
    inner = _expression(depth - 1)
    n = _NUMBERS.map(str)
    return st.one_of(
        st.tuples(inner, st.sampled_from(["*", "**", "+", "~", "%"]), inner | n).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        st.tuples(inner, n).map(lambda t: f"({t[0]})|center({t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]})|replace('a', {t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]}).join([{t[1]}, {t[1]}])"),
        st.tuples(inner, n, inner).map(lambda t: f"(({t[0]})|batch({t[1]}, {t[2]})|list)"),
        st.tuples(inner, n).map(lambda t: f"({t[0]})|indent({t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"[{t[0]}, {t[1]}, {t[0]}]"),
        inner.map(lambda t: f"({t})|tojson"),
    )


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(_expression(3), st.integers(min_value=1, max_value=40))
def test_any_growth_stays_within_time_and_memory(expression: str, rounds: int) -> None:
    """Whatever the operations and parameters, repeated on their own result: the render
    ends within its time limit, and its memory stays a small multiple of its cap."""
    source = (
        f"{{% set ns = namespace(v={expression}) %}}"
        f"{{% for i in range({rounds}) %}}{{% set ns.v = [ns.v, ns.v] ~ ns.v %}}{{% endfor %}}"
        "{{ ns.v|string|length }}"
    )
    limits = RenderLimits(seconds=1.0, max_output_chars=20_000)
    tracemalloc.start()
    started = time.monotonic()
    try:
        output: Any = compile_template(source, limits=limits).render(CHAT)
    except TemplateError:
        output = None
    finally:
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert elapsed < limits.seconds + REFUSED_BEFORE_THE_WORK_S
    assert peak < 8 << 20  # a few values of 20,000 characters, and the compiled template
    assert output is None or int(output) <= limits.max_output_chars
