"""Prompts from images and Modelfiles, nothing built: builder.prompt, builder.pipeline.preview."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest

from builder import prompt
from builder.gguf.header import read_header, read_joined_header
from builder.pipeline.build import build_file
from builder.pipeline.preview import load_prompt_source, modelfile_path, render_prompt
from builder.prompt import count_tokens
from builder.store.store import Store
from ladle.errors import ConversationError, GGUFError, ModelfileError, ModelNotFoundError
from ladle.settings import Settings
from tests.fixtures.installed import require_bundled_model

HELLO = [{"role": "user", "content": "Hello!"}]
TAGS = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
BASE = f"""FROM ./tiny.gguf
TEMPLATE "{{{{ bos_token }}}}{TAGS}{{{{ eos_token }}}}"
SYSTEM base system
MESSAGE user hi
MESSAGE assistant hello
"""


@pytest.fixture
def workdir(tmp_path: Path, tiny_model: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copy(tiny_model, folder / "tiny.gguf")
    return folder


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(models=tmp_path / "models")


def _modelfile(folder: Path, text: str, name: str = "Modelfile") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _render(path: Path, settings: Settings, messages: list[dict[str, str]] = HELLO) -> str:
    return render_prompt(path, messages, settings=settings)


def test_a_gguf_base_gets_the_default_template_and_writes_nothing(
    workdir: Path, settings: Settings
) -> None:
    path = _modelfile(workdir, "FROM ./tiny.gguf\nSYSTEM be brief\n")
    assert _render(path, settings) == "system: be brief\nuser: Hello!\nassistant: "
    assert not settings.models.exists()


def test_special_tokens_come_from_the_gguf(workdir: Path, settings: Settings) -> None:
    path = _modelfile(workdir, BASE)
    assert (
        _render(path, settings) == "<s><system>base system<user>hi<assistant>hello<user>Hello!</s>"
    )


def test_system_and_messages_are_placed_as_ollama_places_them(
    workdir: Path, settings: Settings
) -> None:
    path = _modelfile(workdir, BASE.replace("{{ bos_token }}", "").replace("{{ eos_token }}", ""))
    own_system = [{"role": "system", "content": "mine"}, *HELLO]
    assert _render(path, settings, own_system) == (
        "<user>hi<assistant>hello<system>mine<user>Hello!"
    )
    later_system = [*HELLO, {"role": "system", "content": "late"}]
    assert _render(path, settings, later_system).startswith("<system>base system<user>hi")
    assert (
        render_prompt(path, [], settings=settings) == "<system>base system<user>hi<assistant>hello"
    )


def test_a_modelfile_renders_as_the_image_built_from_it(workdir: Path, settings: Settings) -> None:
    store = Store(settings.models)
    build_file(_modelfile(workdir, BASE, "Base.Modelfile"), "base", store)
    child = (
        'FROM base\nSYSTEM child system\nMESSAGE user new\nTEMPLATE """'
        '{{ range .Messages }}[{{ .Role }}] {{ .Content }}\n{{ end }}"""\n'
    )
    for text in (child, 'FROM base\nSYSTEM ""\n', "FROM base\nMESSAGE user only\n", BASE):
        path = _modelfile(workdir, text)
        build_file(path, "child", store)
        from_image = render_prompt("child", HELLO, settings=settings)
        assert _render(path, settings) == from_image, text
    assert render_prompt("child", HELLO, settings=settings).startswith("<s><system>base system")


def test_a_go_template_in_the_modelfile_is_converted(workdir: Path, settings: Settings) -> None:
    path = _modelfile(
        workdir,
        'FROM ./tiny.gguf\nSYSTEM sys\nTEMPLATE """{{ if .System }}S:{{ .System }} {{ end }}'
        'U:{{ .Prompt }} A:{{ .Response }}"""\n',
    )
    assert _render(path, settings) == "S:sys U:Hello! A:"


def test_tools_reach_the_template(workdir: Path, settings: Settings) -> None:
    path = _modelfile(
        workdir,
        'FROM ./tiny.gguf\nTEMPLATE """{% for t in tools %}{{ t.function.name }};{% endfor %}"""\n',
    )
    tools = [{"type": "function", "function": {"name": "df"}}]
    assert render_prompt(path, HELLO, tools, settings=settings) == "df;"


def test_add_generation_prompt(workdir: Path, settings: Settings) -> None:
    path = _modelfile(workdir, "FROM ./tiny.gguf\n")
    assert render_prompt(path, HELLO, None, False, settings=settings) == "user: Hello!\n"


def test_a_folder_with_a_modelfile_or_a_path_string(workdir: Path, settings: Settings) -> None:
    _modelfile(workdir, "FROM ./tiny.gguf\n")
    assert modelfile_path(workdir) == workdir / "Modelfile"
    assert modelfile_path(str(workdir / "Modelfile")) == workdir / "Modelfile"
    assert modelfile_path("sre-bot") is None
    assert modelfile_path("library/sre-bot:v2") is None
    assert modelfile_path("./missing/Modelfile") == Path("missing/Modelfile")
    assert _render(workdir, settings) == "user: Hello!\nassistant: "


def test_errors_name_what_is_wrong(workdir: Path, settings: Settings) -> None:
    with pytest.raises(ModelNotFoundError, match="'nope:latest' not found"):
        render_prompt("nope", HELLO, settings=settings)
    with pytest.raises(ModelfileError, match="cannot read file"):
        render_prompt("./nowhere/Modelfile", HELLO, settings=settings)
    path = _modelfile(workdir, "FROM ./tiny.gguf\n")
    with pytest.raises(ConversationError, match="message 1 has no role"):
        render_prompt(path, [{"content": "x"}], settings=settings)


def test_special_tokens_are_read_once_per_file(
    workdir: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _modelfile(workdir, "FROM ./tiny.gguf\n")
    calls: list[Path] = []
    inspect = prompt.inspect_gguf
    monkeypatch.setattr(prompt, "inspect_gguf", lambda p: calls.append(p) or inspect(p))
    prompt._gguf_facts.cache_clear()
    for _ in range(3):
        _render(path, settings)
    assert calls == [workdir / "tiny.gguf"]


def test_count_tokens(workdir: Path, settings: Settings) -> None:
    source = load_prompt_source(_modelfile(workdir, BASE), Store(settings.models))
    assert source.model_path is not None
    assert count_tokens(source.model_path, "<s>hello world</s>") == 4  # <s> ▁hello ▁world </s>


def test_bundled_base_renders_as_the_built_image(workdir: Path, settings: Settings) -> None:
    require_bundled_model("smollm2:135m")
    path = _modelfile(workdir, "FROM smollm2:135m\nSYSTEM be brief\n")
    unbuilt = _render(path, settings)
    assert not settings.models.exists()
    assert unbuilt.startswith("<|im_start|>system\nbe brief<|im_end|>\n")
    build_file(path, "brief", Store(settings.models))
    assert render_prompt("brief", HELLO, settings=settings) == unbuilt


def test_split_bundled_weights_are_read_without_joining(workdir: Path, settings: Settings) -> None:
    require_bundled_model("gemma3:270m")
    path = _modelfile(workdir, "FROM gemma3:270m\n")
    source = load_prompt_source(path, Store(settings.models))
    assert (source.tokens.bos, source.tokens.eos, source.model_path) == ("<bos>", "<eos>", None)
    assert (
        _render(path, settings)
        == "<bos><start_of_turn>user\nHello!<end_of_turn>\n<start_of_turn>model\n"
    )


def test_a_header_read_across_split_parts_is_the_whole_files(workdir: Path) -> None:
    data = (workdir / "tiny.gguf").read_bytes()
    cuts = [0, 1000, 5000, len(data)]
    parts = []
    for index, (start, end) in enumerate(itertools.pairwise(cuts)):
        parts.append(workdir / f"part{index}")
        parts[-1].write_bytes(data[start:end])
    joined, _ = read_joined_header(parts, "tiny (split)")
    whole, _ = read_header(workdir / "tiny.gguf")
    assert joined == whole
    with pytest.raises(GGUFError, match=r"^tiny \(split\): truncated"):
        read_joined_header(parts[:2], "tiny (split)")
