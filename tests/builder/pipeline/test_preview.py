"""``ladle render`` of a Modelfile with a RENDERER: the built-in renderer writes the
prompt, as it will for the image built from the Modelfile (and for its children)."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.pipeline.build import build_file
from builder.pipeline.preview import render_prompt
from builder.store.store import Store
from builder.templates.renderers import renderer_named
from ladle.errors import TemplateError
from ladle.settings import Settings

HELLO = [{"role": "user", "content": "Hello!"}]
TEMPLATED = 'FROM ./tiny.gguf\nTEMPLATE "{% for m in messages %}{{ m.content }}{% endfor %}"\n'


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(models=tmp_path / "models")


def _modelfile(folder: Path, text: str, name: str = "Modelfile") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_modelfiles_renderer_writes_the_prompt_not_its_template(
    workdir: Path, settings: Settings
) -> None:
    path = _modelfile(workdir, TEMPLATED + "RENDERER glm-4.7\nSYSTEM be brief\n")
    expected = renderer_named("glm-4.7").render([{"role": "system", "content": "be brief"}, *HELLO])
    assert render_prompt(path, HELLO, settings=settings) == expected
    assert expected.startswith("[gMASK]<sop><|system|>be brief<|user|>Hello!")
    assert not settings.models.exists()  # nothing built


def test_a_modelfile_renders_as_the_image_built_from_it(workdir: Path, settings: Settings) -> None:
    store = Store(settings.models)
    build_file(
        _modelfile(workdir, TEMPLATED + "RENDERER cohere\n", "Base.Modelfile"), "base", store
    )
    for text in ("FROM base\nSYSTEM hi\n", "FROM base\nRENDERER laguna\n", TEMPLATED):
        path = _modelfile(workdir, text)
        build_file(path, "child", store, lock="off")
        assert render_prompt(path, HELLO, settings=settings) == render_prompt(
            "child", HELLO, settings=settings
        ), text
    inherited = render_prompt(_modelfile(workdir, "FROM base\n"), HELLO, settings=settings)
    assert inherited.startswith("<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>")


def test_an_unknown_renderer_is_refused_by_name(workdir: Path, settings: Settings) -> None:
    path = _modelfile(workdir, TEMPLATED + "RENDERER qwen9\n")
    with pytest.raises(TemplateError, match="unknown RENDERER 'qwen9'"):
        render_prompt(path, HELLO, settings=settings)
