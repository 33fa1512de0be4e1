"""check_modelfile: modelfile.check's diagnostics plus the templates', with nothing built."""

from __future__ import annotations

from pathlib import Path

import pytest

import modelfile
from builder.pipeline.build import build_file
from builder.pipeline.check import check_modelfile
from builder.store.store import Store
from ladle.errors import Diagnostic

TEMPLATED = 'FROM ./tiny.gguf\nTEMPLATE "{% for m in messages %}{{ m.content }}{% endfor %}"\n'


def _check(text: str, store: Store, folder: Path) -> list[Diagnostic]:
    return check_modelfile(modelfile.parse(text, str(folder / "Modelfile")), store, folder)


def test_a_clean_modelfile_has_no_diagnostics(workdir: Path, store: Store) -> None:
    assert _check(TEMPLATED, store, workdir) == []
    assert not store.root.exists()  # checking writes nothing


def test_modelfile_checks_come_first(workdir: Path, store: Store) -> None:
    text = 'FROM ./tiny.gguf\nPARAMETER num_ctx 0\nTEMPLATE "{{ x }"\n'
    found = _check(text, store, workdir)
    assert [(d.severity, d.line) for d in found] == [("error", 2), ("error", 3)]
    assert found[0].message.startswith("num_ctx must be greater than 0")


@pytest.mark.parametrize(
    ("text", "place", "inside"),
    [
        (
            'FROM x\nTEMPLATE """{% for m in messages %}\n{{ m.content }\n{% endfor %}"""\n',
            (3, 14),
            "line 2, column 14",
        ),
        ('FROM x\nTEMPLATE "{{ x }"\n', (2, 16), "line 1, column 6"),
        ("FROM x\nTEMPLATE {{ if .System }}{{ .System }\n", (2, 37), "line 1, column 28"),
    ],
    ids=["jinja-multiline", "jinja-quoted", "go-bare"],
)
def test_a_broken_template_is_an_error_at_its_place(
    tmp_path: Path, store: Store, text: str, place: tuple[int, int], inside: str
) -> None:
    [found] = _check(text, store, tmp_path)
    assert (found.severity, found.line, found.column) == ("error", *place)
    assert found.message.startswith(f"template {inside}")
    assert found.path == str(tmp_path / "Modelfile")
    assert found.source_line == text.splitlines()[place[0] - 1]


def test_no_template_anywhere_is_a_warning_at_from(workdir: Path, store: Store) -> None:
    [found] = _check("# a bare model\nFROM ./tiny.gguf\n", store, workdir)  # its GGUF has none
    assert (found.severity, found.line, found.column) == ("warning", 2, 1)
    assert found.message.startswith("no chat template")
    assert found.source_line == "FROM ./tiny.gguf"


def test_a_base_image_template_counts(workdir: Path, store: Store) -> None:
    (workdir / "Base.Modelfile").write_text(TEMPLATED, encoding="utf-8")
    build_file(workdir / "Base.Modelfile", "base", store)
    assert _check("FROM base\nSYSTEM hi\n", store, workdir) == []


def test_a_base_that_cannot_be_resolved_is_left_to_the_build(tmp_path: Path, store: Store) -> None:
    assert _check("FROM ./missing.gguf\n", store, tmp_path) == []
    assert _check("FROM nope\n", store, tmp_path) == []


def test_from_paths_are_relative_to_folder(workdir: Path, store: Store, tmp_path: Path) -> None:
    parsed = modelfile.parse("FROM ./tiny.gguf\n", "<stdin>")
    assert [d.severity for d in check_modelfile(parsed, store, workdir)] == ["warning"]
    assert check_modelfile(parsed, store, tmp_path) == []  # no tiny.gguf there


def test_unknown_renderer_and_parser_names_are_errors_at_their_names(
    workdir: Path, store: Store
) -> None:
    text = TEMPLATED + "RENDERER gemma4\nRENDERER qwen9\nPARSER  nope\nPARSER glm-4.7\n"
    found = [d for d in _check(text, store, workdir) if d.severity == "error"]
    assert [(d.line, d.column) for d in found] == [(4, 10), (5, 9)]
    assert found[0].message.startswith("unknown RENDERER 'qwen9'; known renderers: ")
    assert found[1].message.startswith("unknown PARSER 'nope'; known parsers: ")
    assert found[0].source_line == "RENDERER qwen9"
