"""Quantizing with llama.cpp while building: types, sources, the cache, failures."""

from __future__ import annotations

import json
import shutil
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import llama_cpp
import pytest

import modelfile
from builder.gguf.header import read_header
from builder.pipeline import quantize as quantizer
from builder.pipeline.execute import execute
from builder.pipeline.options import BuildOptions
from builder.pipeline.plan import plan
from builder.pipeline.resolver import Resolver
from builder.store.image import Image
from builder.store.manifest import digest_of
from builder.store.names import ModelName
from builder.store.progress import ProgressEvent
from builder.store.store import Store
from ladle.errors import BuildError, QuantizeRefusedError
from tests.fixtures.tiny_gguf import write_tiny_llama


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "models")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    folder = tmp_path_factory.mktemp("quantize")
    shutil.copy(tiny_model, folder / "tiny.gguf")  # F16, 64 wide: Q4_0 and Q8_0 blocks fit
    write_tiny_llama(folder / "tiny-q8.gguf", file_type="Q8_0")
    # K-quants work on rows of 256 values.
    write_tiny_llama(folder / "wide.gguf", n_embd=256, n_ff=256, name="wide")
    return folder


@pytest.fixture
def quantizer_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The types the quantizer ran for (it runs for real)."""
    runs: list[str] = []
    real = quantizer.quantize

    def counted(source: Path, target: Path, type_name: str, *args: Any, **kwargs: Any) -> None:
        runs.append(type_name)
        real(source, target, type_name, *args, **kwargs)

    monkeypatch.setattr(quantizer, "quantize", counted)
    return runs


def _build(
    workdir: Path,
    store: Store,
    text: str,
    name: str = "x",
    progress: Callable[[ProgressEvent], None] | None = None,
    **options: Any,
) -> Image:
    spec = modelfile.parse(text).validate()
    the_plan = plan(spec, ModelName.parse(name), Resolver(store, workdir), BuildOptions(**options))
    execute(the_plan, store, progress)
    return Image.load(store, ModelName.parse(name))


def _inputs(store: Store, image: Image) -> dict[str, str]:
    config = json.loads(store.read_blob(image.stored.manifest.config.digest))
    return dict(config["ladle"]["inputs"])


def _generates(path: Path) -> None:
    model = llama_cpp.Llama(model_path=str(path), n_ctx=64, verbose=False)
    result = model.create_completion("hello", max_tokens=1)
    assert result["usage"]["completion_tokens"] == 1


@pytest.mark.parametrize("type_name", ["Q8_0", "Q4_0"])
def test_an_f16_file_is_quantized_and_runs(workdir: Path, store: Store, type_name: str) -> None:
    image = _build(workdir, store, "FROM ./tiny.gguf\n", quantize=type_name.lower())
    assert image.config.file_type == type_name
    model = image.stored.manifest.layers[0]
    assert model.size < (workdir / "tiny.gguf").stat().st_size
    source = digest_of((workdir / "tiny.gguf").read_bytes())
    assert _inputs(store, image) == {
        "FROM ./tiny.gguf": source,
        f"quantize {type_name}": model.digest,
    }
    _generates(image.model_path)


def test_a_k_quant_of_a_256_wide_model(workdir: Path, store: Store) -> None:
    events: list[ProgressEvent] = []
    image = _build(workdir, store, "FROM ./wide.gguf\n", progress=events.append, quantize="Q4_K_M")
    assert image.config.file_type == "Q4_K_M"
    header, _ = read_header(image.model_path)
    assert "Q4_K" in {tensor.type.name for tensor in header.tensors}
    quantizing = [event for event in events if event.status == "quantizing to Q4_K_M"]
    assert quantizing[-1].completed == quantizing[-1].total > 0  # one event per tensor
    _generates(image.model_path)


def test_a_repeated_quantization_comes_from_the_cache(
    workdir: Path, store: Store, quantizer_runs: list[str]
) -> None:
    first = _build(workdir, store, "FROM ./tiny.gguf\n", "first", quantize="Q8_0")
    events: list[ProgressEvent] = []
    second = _build(workdir, store, "FROM ./tiny.gguf\n", "second", events.append, quantize="Q8_0")
    assert quantizer_runs == ["Q8_0"]
    assert second.model_path == first.model_path
    assert any("taken from the cache" in event.status for event in events)
    # The key holds the llama.cpp version; a result whose blob is gone is made again.
    source = _inputs(store, first)["FROM ./tiny.gguf"]
    assert quantizer.QuantizeCache(store, "0.0.0").get(source, "Q8_0") is None
    first.model_path.unlink()
    _build(workdir, store, "FROM ./tiny.gguf\n", "third", quantize="Q8_0")
    assert quantizer_runs == ["Q8_0", "Q8_0"]


def test_quantizing_an_image_quantizes_its_model_blob(workdir: Path, store: Store) -> None:
    base = _build(workdir, store, "FROM ./tiny.gguf\nSYSTEM be brief\n", "base")
    image = _build(workdir, store, "FROM base\nPARAMETER top_k 5\n", "base:q8", quantize="Q8_0")
    assert image.config.file_type == "Q8_0"
    assert image.model_path != base.model_path
    assert image.system == "be brief" and image.params == {"top_k": 5}
    base_model = base.stored.manifest.layers[0].digest
    quantized = image.stored.manifest.layers[0].digest
    assert _inputs(store, image) == {"FROM base": base_model, "quantize Q8_0": quantized}
    assert base.config.file_type == "F16"  # the base is untouched


def test_requantizing_needs_the_flag_and_warns(workdir: Path, store: Store) -> None:
    refused = r"quantized already \(Q8_0\).*requantize build option"
    with pytest.raises(QuantizeRefusedError, match=refused):  # the request's choice: HTTP 400
        _build(workdir, store, "FROM ./tiny-q8.gguf\n", quantize="Q4_0")
    assert store.blob_digests() == set()  # refused while planning: nothing copied
    events: list[ProgressEvent] = []
    text = "FROM ./tiny-q8.gguf\n"
    image = _build(workdir, store, text, "x", events.append, quantize="Q4_0", requantize=True)
    assert image.config.file_type == "Q4_0"
    assert any(event.status.startswith("warning: requantizing") for event in events)


def test_unknown_type_lists_the_valid_ones(workdir: Path, store: Store) -> None:
    unknown = r"unknown quantization type 'Q9_9'.*Q4_K_M, Q4_K_S"
    with pytest.raises(QuantizeRefusedError, match=unknown):
        _build(workdir, store, "FROM ./tiny.gguf\n", quantize="Q9_9")
    with pytest.raises(QuantizeRefusedError, match="requantize was asked for without a type"):
        _build(workdir, store, "FROM ./tiny.gguf\n", requantize=True)


def test_weights_of_the_requested_type_are_kept(
    workdir: Path, store: Store, quantizer_runs: list[str]
) -> None:
    image = _build(workdir, store, "FROM ./tiny.gguf\n", quantize="F16")
    assert image.model_path.read_bytes() == (workdir / "tiny.gguf").read_bytes()
    assert quantizer_runs == []


def test_every_type_is_a_llama_cpp_ftype() -> None:
    ftypes = {quantizer.llama_ftype(name) for name in quantizer.TYPES}
    assert len(ftypes) == len(quantizer.TYPES)
    for required in ("Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q4_K_M", "Q4_K_S", "Q4_0", "Q3_K_M"):
        assert required in quantizer.TYPES
    assert quantizer.llama_ftype("Q4_K_M") == llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M


def test_a_refusal_is_a_build_error_with_llama_cpps_reason(tmp_path: Path) -> None:
    source = tmp_path / "not.gguf"
    source.write_bytes(b"not a model")
    target = tmp_path / "out.gguf"
    with pytest.raises(BuildError, match=r"quantizing not\.gguf to Q4_0 failed: .*failed to load"):
        quantizer.quantize(source, target, "Q4_0")
    assert not target.exists()


def test_a_crash_in_the_quantizer_does_not_kill_ladle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aborting = tmp_path / "python"
    aborting.write_text("#!/bin/sh\necho 'GGML_ASSERT(n_dims <= 4) failed'\nkill -ABRT $$\n")
    aborting.chmod(aborting.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(sys, "executable", str(aborting))
    with pytest.raises(BuildError, match=r"llama\.cpp crashed \(SIGABRT\): GGML_ASSERT"):
        quantizer.quantize(tmp_path / "in.gguf", tmp_path / "out.gguf", "Q8_0")
