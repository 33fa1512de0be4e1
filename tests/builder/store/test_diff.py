"""``ladle diff``: the semantic difference of two images, section by section."""

from __future__ import annotations

import re
from pathlib import Path

from syrupy.assertion import SnapshotAssertion

from builder.pipeline.build import build_file
from builder.store.diff import ImageDiff, diff_images, image_names
from builder.store.image import Image
from builder.store.names import ModelName
from builder.store.store import Store

BASE = """FROM ./tiny.gguf
TEMPLATE "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
SYSTEM \"\"\"You are terse.
Answer in one line.\"\"\"
PARAMETER temperature 0.5
PARAMETER stop <a>
PARAMETER stop <b>
PARAMETER seed 7
LICENSE MIT
MESSAGE user hi
MESSAGE assistant hello
"""

DERIVED = """FROM base
TEMPLATE "{% for m in messages %}[{{ m.role }}] {{ m.content }}{% endfor %}"
SYSTEM \"\"\"You are terse.
Answer in one word.\"\"\"
PARAMETER temperature 0.7
PARAMETER stop <c>
PARAMETER top_k 5
ADAPTER ./tiny-lora.gguf
LICENSE "Be nice."
MESSAGE user hello
MESSAGE assistant hi
"""


def _build(folder: Path, store: Store, name: str, text: str) -> Image:
    path = folder / f"{name}.Modelfile"
    path.write_text(text, encoding="utf-8")
    build_file(path, name, store, lock="off")
    return Image.load(store, ModelName.parse(name))


def _masked(diff: ImageDiff) -> str:
    """The diff's text with digests masked: they change with the tools' versions."""
    text = re.sub(r"sha256:[0-9a-f]{64}", "sha256:<digest>", diff.text())
    return re.sub(r"\([0-9a-f]{12}\)", "(<id>)", text)


def test_diff_of_a_derived_image(workdir: Path, store: Store, snapshot: SnapshotAssertion) -> None:
    base = _build(workdir, store, "base", BASE)
    derived = _build(workdir, store, "derived", DERIVED)
    diff = diff_images(base, derived, image_names(store.images()))
    assert not diff.same
    assert [section.title for section in diff.sections] == [
        "Base",
        "Adapters",
        "Template",
        "System",
        "License",
        "Parameters",
        "Messages",
    ]
    assert f"+parents  {base.stored.digest} (base:latest)" in diff.text()
    assert _masked(diff) == snapshot


def test_diff_of_another_quantization(
    workdir: Path, store: Store, snapshot: SnapshotAssertion
) -> None:
    from tests.fixtures.tiny_gguf import write_tiny_llama

    write_tiny_llama(workdir / "tiny-q8.gguf", file_type="Q8_0")
    f16 = _build(workdir, store, "f16", "FROM ./tiny.gguf\n")
    q8 = _build(workdir, store, "q8", "FROM ./tiny-q8.gguf\n")
    diff = diff_images(f16, q8)
    assert [section.title for section in diff.sections] == ["Base", "Model"]
    assert _masked(diff) == snapshot


def test_identical_images_have_no_differences(workdir: Path, store: Store) -> None:
    base = _build(workdir, store, "base", BASE)
    again = _build(workdir, store, "again", BASE)
    diff = diff_images(base, again)
    assert diff.same and diff.sections == ()
    assert diff.text() == (
        f"--- base:latest ({base.stored.digest[7:19]})\n"
        f"+++ again:latest ({again.stored.digest[7:19]})\n"
    )


def test_a_diff_runs_both_ways(workdir: Path, store: Store) -> None:
    base = _build(workdir, store, "base", BASE)
    derived = _build(workdir, store, "derived", DERIVED)
    forward, backward = diff_images(base, derived), diff_images(derived, base)
    flip = {"-": "+", "+": "-", " ": " "}
    for ahead, behind in zip(forward.sections, backward.sections, strict=True):
        assert ahead.title == behind.title
        if ahead.title == "Parameters":  # keyed: one line per side, in key order
            assert sorted(flip[line.marker] + line.text for line in ahead.lines) == sorted(
                str(line) for line in behind.lines
            )


def test_cleared_system_prompt_and_removed_parameters(workdir: Path, store: Store) -> None:
    base = _build(workdir, store, "base", BASE)
    quiet = _build(workdir, store, "quiet", 'FROM base\nSYSTEM ""\nMESSAGE user only\n')
    sections = {section.title: section for section in diff_images(base, quiet).sections}
    assert [str(line) for line in sections["System"].lines] == [
        "@@ -1,2 +0,0 @@",
        "-You are terse.",
        "-Answer in one line.",
    ]
    assert [str(line) for line in sections["Messages"].lines] == [
        "@@ -1,2 +1 @@",
        "-user: hi",
        "-assistant: hello",
        "+user: only",
    ]
