"""KV cache type and flash attention: where a load's values come from, what is refused
before loading, and what the memory estimate makes of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from builder.gguf.file import inspect_gguf
from builder.store.image import Image
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.errors import InvalidOptionError
from runtime.kv_cache import check_flash_attention, check_head_dimension, head_dimensions
from runtime.loading import load_spec
from runtime.memory import estimate
from tests.fixtures.installed import smollm2_gguf
from tests.fixtures.tiny_gguf import write_tiny_llama
from tests.runtime.scheduler_fakes import put_image


def _image(tmp_path: Path, **params: Any) -> Image:
    store = Store(tmp_path / "models")
    put_image(store, "m", params=params)
    return Image.load(store, ModelName.parse("m"))


def test_the_server_setting_then_the_image_then_the_request(tmp_path: Path) -> None:
    plain = _image(tmp_path)
    spec = load_spec(plain, num_parallel=1, kv_cache_type="q8_0", flash_attention="on")
    assert (spec.kv_cache_type, spec.flash_attention) == ("q8_0", "on")
    image = _image(tmp_path / "b", kv_cache_type="q4_0", flash_attention=True)
    assert load_spec(image, num_parallel=1).kv_cache_type == "q4_0"
    asked = load_spec(image, {"kv_cache_type": "f16", "flash_attention": False}, num_parallel=1)
    assert (asked.kv_cache_type, asked.flash_attention) == ("f16", "off")
    unset = load_spec(image, {"kv_cache_type": None}, num_parallel=1)
    assert (unset.kv_cache_type, unset.flash_attention) == ("q4_0", "on")


def test_a_quantized_cache_needs_flash_attention(tmp_path: Path) -> None:
    with pytest.raises(InvalidOptionError, match=r"kv_cache_type.*needs flash attention"):
        load_spec(_image(tmp_path), num_parallel=1, kv_cache_type="q8_0", flash_attention="off")
    check_flash_attention("q8_0", "auto")  # llama.cpp turns it on for a quantized V cache
    check_flash_attention("f16", "off")


@pytest.mark.parametrize("value", ["q5_1", "F16", 8, True])
def test_an_unknown_cache_type_is_refused_by_name(tmp_path: Path, value: object) -> None:
    with pytest.raises(InvalidOptionError, match="kv_cache_type"):
        load_spec(_image(tmp_path), {"kv_cache_type": value}, num_parallel=1)


def test_context_length_setting_and_asked_context(tmp_path: Path) -> None:
    image = _image(tmp_path)
    chosen = load_spec(image, num_parallel=1, context_length=16_384)
    assert (chosen.n_ctx, chosen.context_from_memory) == (16_384, False)
    asked = load_spec(image, {"num_ctx": 1024}, num_parallel=1, context_length=16_384)
    assert (asked.n_ctx, asked.context_from_memory) == (1024, False)
    assert load_spec(image, num_parallel=1).context_from_memory
    # an embedding load's batch is as long as its context: it keeps the default
    assert not load_spec(image, num_parallel=1, embedding=True).context_from_memory


def test_head_dimension_must_take_whole_blocks(tmp_path: Path, tiny_model: Path) -> None:
    tiny = inspect_gguf(tiny_model)
    assert head_dimensions(tiny) == {"key": 16, "value": 16}
    check_head_dimension("f16", tiny)
    with pytest.raises(InvalidOptionError, match=r"kv_cache_type.*head dimension \(16\)"):
        check_head_dimension("q8_0", tiny)
    wide = inspect_gguf(write_tiny_llama(tmp_path / "w.gguf", n_head=2, n_head_kv=1))
    check_head_dimension("q4_0", wide)


def test_the_estimate_follows_the_cache_type() -> None:
    smollm2 = inspect_gguf(smollm2_gguf())
    f16, q8, q4 = (estimate(smollm2, 8192, 4, kind).kv for kind in ("f16", "q8_0", "q4_0"))
    # 4 * 8192 tokens * 30 layers * (64 + 64) * 3 kv heads values, 2 bytes each in f16
    assert f16 == 4 * 8192 * 30 * 128 * 3 * 2
    assert q8 == f16 * 34 // 64 and q4 == f16 * 18 // 64
    assert q8 / f16 == pytest.approx(0.531, abs=0.001) and q4 / f16 == pytest.approx(
        0.281, abs=0.001
    )
