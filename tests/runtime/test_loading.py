"""From an image and a request's options to a LoadSpec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from builder.store.image import Image
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.errors import InvalidOptionError
from runtime.loading import MIN_NUM_CTX, load_spec
from runtime.protocol import AdapterSpec, LoadSpec
from tests.runtime.scheduler_fakes import put_image


def _image(tmp_path: Path, **kwargs: Any) -> Image:
    store = Store(tmp_path / "models")
    put_image(store, "m", **kwargs)
    return Image.load(store, ModelName.parse("m"))


def test_defaults_when_nothing_is_set(tmp_path: Path) -> None:
    image = _image(tmp_path)
    spec = load_spec(image, num_parallel=4)
    assert spec == LoadSpec(
        model_path=image.model_path, n_gpu_layers=-1, num_parallel=4, context_from_memory=True
    )


def test_image_parameters_then_request_options(tmp_path: Path) -> None:
    params = {"num_ctx": 2048, "num_batch": 256, "num_thread": 8, "temperature": 0.2}
    image = _image(tmp_path, params=params, adapters=(b"lora-1", b"lora-2"))
    spec = load_spec(
        image,
        {"num_ctx": 8192, "num_gpu": 10, "main_gpu": 1, "use_mmap": False, "top_k": 5},
        num_parallel=2,
        embedding=True,
    )
    expected = LoadSpec(
        model_path=image.model_path,
        adapters=tuple(AdapterSpec(path=path, scale=1.0) for path in image.adapter_paths),
        n_ctx=8192,
        n_batch=256,
        n_gpu_layers=10,
        main_gpu=1,
        n_threads=8,
        use_mmap=False,
        num_parallel=2,
        embedding=True,
    )
    assert spec == expected
    assert len(spec.adapters) == 2


def test_zero_threads_and_null_options_mean_unset(tmp_path: Path) -> None:
    image = _image(tmp_path, params={"num_thread": 6, "num_ctx": 1024})
    spec = load_spec(image, {"num_thread": 0, "num_ctx": None}, num_parallel=1)
    assert (spec.n_threads, spec.n_ctx) == (None, 1024)


@pytest.mark.parametrize("num_ctx", [0, 1, 3, 3.0])
def test_a_context_below_4_is_raised_to_4_as_ollama_does(tmp_path: Path, num_ctx: float) -> None:
    spec = load_spec(_image(tmp_path), {"num_ctx": num_ctx}, num_parallel=1)
    assert spec.n_ctx == MIN_NUM_CTX == 4
    pulled = _image(tmp_path, params={"num_ctx": 0})  # as an image from Ollama may carry
    assert load_spec(pulled, num_parallel=1).n_ctx == 4
    assert load_spec(_image(tmp_path), {"num_ctx": 4}, num_parallel=1).n_ctx == 4


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"num_ctx": -1}, "num_ctx"),
        ({"num_ctx": "big"}, "num_ctx"),
        ({"num_ctx": 2.5}, "num_ctx"),
        ({"num_ctx": True}, "num_ctx"),
        ({"num_batch": 1.5}, "num_batch"),
        ({"num_gpu": -2}, "num_gpu"),
    ],
)
def test_bad_options_name_the_option(tmp_path: Path, options: dict[str, Any], option: str) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        load_spec(_image(tmp_path), options, num_parallel=1)
    assert caught.value.option == option
