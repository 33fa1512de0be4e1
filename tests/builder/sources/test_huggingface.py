"""``FROM hf.co/…`` and ``ladle pull hf.co/…``, offline, from a Hugging Face cache laid out
as huggingface_hub writes it (``HF_HUB_OFFLINE=1``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builder.distribution import pull_model
from builder.pipeline.build import build_file
from builder.pipeline.options import BuildOptions
from builder.sources import huggingface
from builder.store.image import Image
from builder.store.manifest import digest_of
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.errors import HubError
from ladle.settings import HubSettings, Settings, hub_settings
from tests.fixtures.hub_cache import write_hub_cache
from tests.fixtures.tiny_gguf import write_tiny_llama
from tests.fixtures.tiny_projector import write_tiny_projector

REPO = "someone/tiny-GGUF"
FIRST, SECOND = "1" * 40, "2" * 40
TEMPLATE = "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}"


@pytest.fixture(scope="module")
def ggufs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ggufs")
    return {
        "q4": write_tiny_llama(folder / "q4.gguf", chat_template=TEMPLATE),
        "q8": write_tiny_llama(folder / "q8.gguf", file_type="Q8_0", seed=1),
        "q4-new": write_tiny_llama(folder / "q4-new.gguf", chat_template=TEMPLATE, seed=2),
    }


@pytest.fixture
def settings(tmp_path: Path, ggufs: dict[str, Path]) -> Settings:
    cache = tmp_path / "hf" / "hub"
    files = {
        "tiny-Q4_K_M.gguf": ggufs["q4"],
        "tiny-Q8_0.gguf": ggufs["q8"],
        "mmproj-tiny-F16.gguf": ggufs["q8"],
        "README.md": ggufs["q8"],
    }
    write_hub_cache(cache, REPO, files, FIRST)
    return Settings(models=tmp_path / "models", hub=HubSettings(cache=cache, offline=True))


def test_pull_picks_q4_k_m_by_default_and_imports_its_chat_template(
    settings: Settings, ggufs: dict[str, Path]
) -> None:
    store = Store(settings.models)
    pull_model(f"hf.co/{REPO}", store, settings)
    image = Image.load(store, ModelName.parse(f"hf.co/{REPO}"))
    assert image.model_path.read_bytes() == ggufs["q4"].read_bytes()
    assert image.template == TEMPLATE
    assert image.config.model_family == "llama"
    assert image.stored.name.display() == f"hf.co/{REPO}:latest"


@pytest.mark.parametrize("tag", ["Q8_0", "q8_0"])
def test_the_tag_names_the_quantization(
    settings: Settings, ggufs: dict[str, Path], tag: str
) -> None:
    store = Store(settings.models)
    pull_model(f"hf.co/{REPO}:{tag}", store, settings)
    image = Image.load(store, ModelName.parse(f"hf.co/{REPO}:{tag}"))
    assert image.model_path.read_bytes() == ggufs["q8"].read_bytes()
    assert image.template is None


def test_a_missing_quantization_lists_what_the_repository_has(settings: Settings) -> None:
    with pytest.raises(HubError, match="no GGUF file for Q2_K; the repository has: Q4_K_M, Q8_0"):
        pull_model(f"huggingface.co/{REPO}:Q2_K", Store(settings.models), settings)


def test_a_repository_missing_from_the_cache_says_so(settings: Settings) -> None:
    with pytest.raises(HubError, match=r"not in the Hugging Face cache .* HF_HUB_OFFLINE is set"):
        pull_model("hf.co/someone/absent", Store(settings.models), settings)
    assert not list(Store(settings.models).manifests.rglob("*"))


def test_from_hf_builds_and_the_lock_pins_revision_and_digest(
    settings: Settings, ggufs: dict[str, Path], tmp_path: Path
) -> None:
    store = Store(settings.models)
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text(f"FROM hf.co/{REPO}:Q4_K_M\nSYSTEM be brief\n")
    options = BuildOptions(hub=settings.hub)
    digest = build_file(modelfile, "bot", store, options=options)
    lock = json.loads((tmp_path / "Modelfile.lock").read_text())
    assert lock["from"] == {
        "reference": f"hf.co/{REPO}:Q4_K_M",
        "kind": "huggingface",
        "source": f"{REPO}/tiny-Q4_K_M.gguf",
        "revision": FIRST,
        "digest": digest_of(ggufs["q4"].read_bytes()),
    }
    image = Image.load(store, ModelName.parse("bot"))
    assert image.template == TEMPLATE and image.system == "be brief"

    # A new commit upstream: --locked still builds the pinned revision, unchanged.
    write_hub_cache(settings.hub.cache, REPO, {"tiny-Q4_K_M.gguf": ggufs["q4-new"]}, SECOND)
    assert build_file(modelfile, "bot", store, lock="locked", options=options) == digest
    # Without --locked the build moves to the new commit and the lock follows.
    assert build_file(modelfile, "bot", store, options=options) != digest
    moved = json.loads((tmp_path / "Modelfile.lock").read_text())["from"]
    assert moved["revision"] == SECOND
    assert moved["digest"] == digest_of(ggufs["q4-new"].read_bytes())


def test_the_same_reference_gives_the_same_image_in_any_store(
    settings: Settings, tmp_path: Path
) -> None:
    first = pull_model(f"hf.co/{REPO}", Store(tmp_path / "a"), settings)
    assert pull_model(f"hf.co/{REPO}:latest", Store(tmp_path / "b"), settings) == first


def test_a_pulled_image_stands_in_when_the_hub_cannot_answer(
    settings: Settings, tmp_path: Path
) -> None:
    store = Store(settings.models)
    pull_model(f"hf.co/{REPO}", store, settings)
    empty_hub = HubSettings(cache=tmp_path / "empty", offline=True)
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text(f"FROM hf.co/{REPO}\n")
    build_file(modelfile, "derived", store, options=BuildOptions(hub=empty_hub), lock="off")
    assert Image.load(store, ModelName.parse("derived")).template == TEMPLATE


@pytest.mark.parametrize(
    ("files", "quant", "chosen"),
    [
        (["a-Q8_0.gguf", "a-Q4_K_M.gguf", "a-Q4_K_S.gguf"], None, "a-Q4_K_M.gguf"),
        (["a-Q8_0.gguf", "a-Q4_K_S.gguf"], None, "a-Q4_K_S.gguf"),
        (["only.gguf"], None, "only.gguf"),
        (["a.IQ4_XS.gguf", "a.Q4_0.gguf"], "iq4_xs", "a.IQ4_XS.gguf"),
        (["a-Q4_K.gguf", "a-Q4_K_M.gguf"], "Q4_K", "a-Q4_K.gguf"),
        (["mmproj-Q4_K_M.gguf", "m-Q8_0.gguf"], None, "m-Q8_0.gguf"),
        (["sub/deep-Q4_K_M.gguf", "top-Q4_K_M.gguf"], "Q4_K_M", "top-Q4_K_M.gguf"),
        (["a-bf16.gguf", "a-f16.gguf"], "F16", "a-f16.gguf"),
    ],
)
def test_choose_file(files: list[str], quant: str | None, chosen: str) -> None:
    assert huggingface.choose_file(files, quant, "hf.co/x/y") == chosen


def test_split_and_missing_files_are_refused() -> None:
    with pytest.raises(HubError, match="split into parts"):
        huggingface.choose_file(["a-Q4_K_M-00001-of-00002.gguf"], None, "hf.co/x/y")
    with pytest.raises(HubError, match="no GGUF file"):
        huggingface.choose_file(["README.md"], None, "hf.co/x/y")
    with pytest.raises(HubError, match=r"expected hf\.co/<user>/<repository>"):
        huggingface.HubReference.parse("hf.co/lonely")


def test_pin_of_reads_the_cache_path() -> None:
    pin = huggingface.pin_of(f"/c/models--someone--tiny-GGUF/snapshots/{FIRST}/sub/x.gguf")
    assert pin == huggingface.HubPin(REPO, FIRST, "sub/x.gguf")
    assert huggingface.pin_of("/elsewhere/x.gguf") is None


def test_hub_settings_follow_huggingface_hubs_variables(tmp_path: Path) -> None:
    assert hub_settings({"HF_HUB_OFFLINE": "1", "HF_HOME": "/h", "HF_TOKEN": "t"}) == HubSettings(
        cache=Path("/h/hub"), token="t", offline=True
    )
    assert hub_settings({"HF_HUB_CACHE": "/c", "HF_HOME": "/h"}).cache == Path("/c")
    assert hub_settings({"XDG_CACHE_HOME": "/x"}).cache == Path("/x/huggingface/hub")
    assert not hub_settings({"HF_HUB_OFFLINE": "0"}).offline


def test_draft_from_hf_is_locked_at_its_revision(
    settings: Settings, ggufs: dict[str, Path], tmp_path: Path
) -> None:
    """DRAFT resolves hf.co/… as FROM does, and the lock pins it the same way."""
    store = Store(settings.models)
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text(f"FROM {ggufs['q4']}\nDRAFT hf.co/{REPO}:Q8_0\n")
    options = BuildOptions(hub=settings.hub)
    digest = build_file(modelfile, "drafted", store, options=options)
    image = Image.load(store, ModelName.parse("drafted"))
    assert image.draft is not None and image.draft.read_bytes() == ggufs["q8"].read_bytes()
    lock = json.loads((tmp_path / "Modelfile.lock").read_text())
    assert lock["draft"] == {
        "reference": f"hf.co/{REPO}:Q8_0",
        "kind": "huggingface",
        "source": f"{REPO}/tiny-Q8_0.gguf",
        "revision": FIRST,
        "digest": digest_of(ggufs["q8"].read_bytes()),
    }
    write_hub_cache(settings.hub.cache, REPO, {"tiny-Q8_0.gguf": ggufs["q4-new"]}, SECOND)
    assert build_file(modelfile, "drafted", store, lock="locked", options=options) == digest


@pytest.mark.parametrize(
    ("files", "model", "chosen"),
    [
        (["m-Q4_K_M.gguf", "mmproj-F16.gguf"], "m-Q4_K_M.gguf", "mmproj-F16.gguf"),
        (["mmproj-F32.gguf", "mmproj-F16.gguf"], "m-Q4_K_M.gguf", "mmproj-F16.gguf"),
        (["mmproj-Q8_0.gguf", "mmproj-F16.gguf"], "m-Q8_0.gguf", "mmproj-Q8_0.gguf"),
        (["mmproj-model.gguf"], "m-Q4_K_M.gguf", "mmproj-model.gguf"),
        (["sub/mmproj-F16.gguf"], "m-Q4_K_M.gguf", None),  # another folder's
        (["m-Q4_K_M.gguf", "README.md"], "m-Q4_K_M.gguf", None),
    ],
)
def test_choose_projector(files: list[str], model: str, chosen: str | None) -> None:
    assert huggingface.choose_projector(files, model) == chosen


def test_a_repository_that_ships_a_projector_gives_a_vision_image(
    tmp_path: Path, ggufs: dict[str, Path]
) -> None:
    """As Ollama's and llama.cpp's pulls of such repositories: the mmproj comes along,
    becomes the projector layer, and the lock records it."""
    cache = tmp_path / "hf" / "hub"
    projector = write_tiny_projector(tmp_path / "mmproj.gguf")
    files = {"tiny-Q4_K_M.gguf": ggufs["q4"], "mmproj-tiny-F16.gguf": projector}
    write_hub_cache(cache, "someone/vision-GGUF", files, FIRST)
    settings = Settings(models=tmp_path / "models", hub=HubSettings(cache=cache, offline=True))
    store = Store(settings.models)
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text("FROM hf.co/someone/vision-GGUF\n")
    build_file(modelfile, "seer", store, options=BuildOptions(hub=settings.hub))
    image = Image.load(store, ModelName.parse("seer"))
    assert image.projector is not None
    assert image.projector.read_bytes() == projector.read_bytes()
    lock = json.loads((tmp_path / "Modelfile.lock").read_text())
    assert list(lock["projector"]) == ["hf.co/someone/vision-GGUF/mmproj-tiny-F16.gguf"]
