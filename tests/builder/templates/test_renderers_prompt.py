"""An image with a RENDERER: its prompt is the renderer's, over the image's SYSTEM and
MESSAGE turns, without a second BOS; a request's own template takes its place."""

from __future__ import annotations

from pathlib import Path

from builder.pipeline.build import build_file
from builder.prompt import PromptSource, image_source
from builder.store.names import ModelName
from builder.store.store import Store
from builder.templates.renderers import renderer_named


def _source(workdir: Path, store: Store, text: str) -> PromptSource:
    path = workdir / "r.Modelfile"
    path.write_text(text, encoding="utf-8")
    build_file(path, "r", store, lock="off")
    return image_source(store, store.get(ModelName.parse("r")))


def test_the_renderer_writes_the_prompt(workdir: Path, store: Store) -> None:
    text = "FROM ./tiny.gguf\nRENDERER olmo3\nSYSTEM Be brief.\nMESSAGE user hi\n"
    source = _source(workdir, store, text)
    turn = {"role": "user", "content": "Hello!"}
    expected = renderer_named("olmo3").render(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}, turn]
    )
    assert source.render([turn]) == expected
    assert expected.startswith("<|im_start|>system\nBe brief.<|im_end|>")


def test_a_leading_bos_is_not_written_twice(workdir: Path, store: Store) -> None:
    # The tiny model's tokenizer adds its BOS itself (add_bos_token), so the renderer's
    # BOS text goes, as Ollama's runner drops a renderer's LeadingBOS.
    source = _source(workdir, store, "FROM ./tiny.gguf\nRENDERER deepseek3.1\n")
    turn = [{"role": "user", "content": "Hi"}]
    renderer = renderer_named("deepseek3.1")
    full = renderer.render(turn)
    assert renderer.leading_bos and full.startswith(renderer.leading_bos)
    assert source.render(turn) == full.removeprefix(renderer.leading_bos)


def test_a_request_template_replaces_the_renderer(workdir: Path, store: Store) -> None:
    source = _source(workdir, store, "FROM ./tiny.gguf\nRENDERER olmo3\n")
    own = source.with_template("{{ .Prompt }}!", "the request's template")
    assert own.render([{"role": "user", "content": "Hi"}]) == "Hi!"
