"""``ADAPTER <PEFT folder>``: a tiny random LoRA converted for a converted tiny base,
applied by llama.cpp, changes the logits exactly as merging ``W + (alpha/r)·B·A`` into
the base's weights does in the numpy reference; adapters llama.cpp cannot apply as
trained, or made for another model, are refused naming the file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import gguf
import llama_cpp
import numpy as np
import numpy.typing as npt
import pytest

from builder.convert.imported import import_checkpoint
from builder.convert.lora import import_lora
from builder.pipeline.build import build_file
from builder.store.image import Image
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.errors import BuildInputError
from tests.builder.convert import reference
from tests.builder.convert.hf_export import write_safetensors
from tests.builder.convert.test_reference import GGML_F32, IDS
from tests.builder.convert.tiny_models import write_tiny_model
from tests.fixtures.installed import smollm2_gguf

RANK, ALPHA = 4, 8.0
TARGETS = {
    "llama": ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.down_proj"),
    "phi3": ("self_attn.qkv_proj", "mlp.gate_up_proj", "self_attn.o_proj"),
    "gemma3": ("self_attn.q_proj", "self_attn.k_proj", "mlp.up_proj"),
}


def write_peft(
    folder: Path, weights: dict[str, Any], targets: tuple[str, ...], **settings: Any
) -> dict[str, npt.NDArray[np.float32]]:
    """A PEFT adapter of rank :data:`RANK` on ``targets`` of every layer; its tensors."""
    rng = np.random.default_rng(7)
    tensors: dict[str, npt.NDArray[np.float32]] = {}
    for name, matrix in weights.items():
        module = name.removeprefix("model.layers.").partition(".")[2].removesuffix(".weight")
        if not name.startswith("model.layers.") or module not in targets:
            continue
        stem = "base_model.model." + name.removesuffix(".weight")
        out, inputs = matrix.shape
        tensors[stem + ".lora_A.weight"] = rng.normal(size=(RANK, inputs)).astype(np.float32)
        tensors[stem + ".lora_B.weight"] = (0.2 * rng.normal(size=(out, RANK))).astype(np.float32)
    folder.mkdir(parents=True)
    write_safetensors(folder / "adapter_model.safetensors", tensors.items())
    config = {"peft_type": "LORA", "r": RANK, "lora_alpha": ALPHA, "bias": "none"}
    config |= {"target_modules": [t.rpartition(".")[2] for t in targets], **settings}
    (folder / "adapter_config.json").write_text(json.dumps(config), encoding="utf-8")
    return tensors


def merged(weights: dict[str, Any], lora: dict[str, npt.NDArray[np.float32]]) -> dict[str, Any]:
    """The base's weights with each adapted matrix plus ``(alpha/r)·B·A``."""
    out = dict(weights)
    for name, a in lora.items():
        if name.endswith(".lora_A.weight"):
            b = lora[name.replace("lora_A", "lora_B")]
            target = name.removeprefix("base_model.model.").replace(".lora_A", "")
            out[target] = weights[target].astype(np.float64) + (ALPHA / RANK) * (b @ a)
    return out


def logits(base: Path, adapter: Path | None) -> npt.NDArray[np.float32]:
    model = llama_cpp.Llama(
        model_path=str(base),
        lora_path=str(adapter) if adapter is not None else None,
        n_ctx=64,
        n_threads=2,
        logits_all=True,
        type_k=GGML_F32,
        type_v=GGML_F32,
        verbose=False,
    )
    try:
        model.eval(IDS)
        return np.array(model.scores[: len(IDS)], dtype=np.float32)
    finally:
        model.close()


@pytest.mark.parametrize("kind", list(TARGETS))
def test_a_lora_changes_logits_as_the_merged_weights_do(
    kind: str, tmp_path: Path, store: Store
) -> None:
    config, weights = write_tiny_model(tmp_path / "base", kind)
    lora = write_peft(tmp_path / "lora", weights, TARGETS[kind])
    base = import_checkpoint(tmp_path / "base", store).path
    digest, _ = import_lora(tmp_path / "lora", base, store)
    adapter = store.blob_path(digest)
    fields = gguf.GGUFReader(adapter).fields
    assert fields["general.type"].contents() == "adapter"
    assert fields["adapter.type"].contents() == "lora"
    assert fields["adapter.lora.alpha"].contents() == ALPHA
    expected = reference.forward(kind, config, merged(weights, lora), IDS)
    without = reference.forward(kind, config, weights, IDS)
    assert np.abs(expected - without).max() > 0.05  # the adapter changes the answer
    # float32 in llama.cpp (the adapter applied beside the weights, summed in the order
    # the CPU's kernels take) against float64 merged weights: up to 6e-5 apart measured
    # on an AVX-512 EPYC, 1/800 of what the adapter changes.
    tolerance = 4e-3 if kind.startswith("gemma") else 1.5e-4
    np.testing.assert_allclose(logits(base, adapter), expected, rtol=0, atol=tolerance)


def test_adapter_in_a_modelfile_is_converted_for_its_base(tmp_path: Path, store: Store) -> None:
    _, weights = write_tiny_model(tmp_path / "base", "llama")
    write_peft(tmp_path / "lora", weights, TARGETS["llama"])
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text("FROM ./base\nADAPTER ./lora\n", encoding="utf-8")
    build_file(modelfile, "tuned", store)
    image = Image.read(store, store.get(ModelName.parse("tuned")))
    digest, _ = import_lora(tmp_path / "lora", image.model_path, store)
    assert image.adapter_paths == (store.blob_path(digest),)
    lock = json.loads((tmp_path / "Modelfile.lock").read_text())
    assert lock["adapters"] == {"./lora": digest}


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"use_rslora": True}, "use_rslora is set: rsLoRA scales by alpha/sqrt(r)"),
        ({"use_dora": True}, "use_dora is set"),
        ({"bias": "all"}, "bias is 'all'"),
        ({"modules_to_save": ["lm_head"]}, "modules_to_save is set"),
        ({"peft_type": "IA3"}, "a IA3 adapter; ladle converts LoRA"),
    ],
)
def test_settings_llama_cpp_cannot_apply_are_refused(
    tmp_path: Path, store: Store, settings: dict[str, Any], reason: str
) -> None:
    _, weights = write_tiny_model(tmp_path / "base", "llama")
    write_peft(tmp_path / "lora", weights, TARGETS["llama"], **settings)
    base = import_checkpoint(tmp_path / "base", store).path
    with pytest.raises(BuildInputError, match=re.escape(f"adapter_config.json: {reason}")):
        import_lora(tmp_path / "lora", base, store)


def test_an_adapter_for_another_model_is_refused(tmp_path: Path, store: Store) -> None:
    _, weights = write_tiny_model(tmp_path / "base", "llama")
    wide = {
        name: np.zeros((w.shape[0], w.shape[1] * 2)) for name, w in weights.items() if w.ndim == 2
    }
    write_peft(tmp_path / "lora", wide, ("self_attn.q_proj",))
    base = import_checkpoint(tmp_path / "base", store).path
    blobs = set(store.blob_digests())
    with pytest.raises(BuildInputError, match=r"blk\.0\.attn_q\.weight: A \[4, 128\] and B "):
        import_lora(tmp_path / "lora", base, store)
    assert set(store.blob_digests()) == blobs  # nothing written


def test_a_lora_for_a_bundled_quantized_base(tmp_path: Path, store: Store) -> None:
    """``FROM smollm2:135m`` (Q4_1 in the store) with a PEFT adapter trained on SmolLM2:
    checked against the quantized base's shapes, converted, and applied by llama.cpp."""
    smollm2_gguf()  # the bundled model's package: skipped here without it, failed on CI
    shapes = {"self_attn.q_proj": (576, 576), "self_attn.k_proj": (192, 576)}
    fake = {
        f"model.layers.{i}.{module}.weight": np.zeros(shape, dtype=np.float32)
        for i in (0, 1)
        for module, shape in shapes.items()
    }
    write_peft(tmp_path / "lora", fake, tuple(shapes))
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text("FROM smollm2:135m\nADAPTER ./lora\n", encoding="utf-8")
    build_file(modelfile, "smol-tuned", store)
    image = Image.read(store, store.get(ModelName.parse("smol-tuned")))
    (adapter,) = image.adapter_paths
    names = {t.name: list(t.shape) for t in gguf.GGUFReader(adapter).tensors}
    assert names["blk.1.attn_k.weight.lora_b"] == [RANK, 192]  # ggml order: inputs first
    base = logits(image.model_path, None)
    assert np.abs(logits(image.model_path, adapter) - base).max() > 0.01
