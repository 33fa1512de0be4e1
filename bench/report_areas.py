"""The report's sections for the figures that have no peer server: Modelfile parsing,
the builder, chat templates, the registry and the TUI.

Each section is a table of ``figure | median (min-max, runs)``, built from
:data:`Row`\\ s that name where a figure lives in the results; a row whose figure is absent
(a quick run skips the 253 MB import, say) is left out, and a section whose module did not
run says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.figures import DASH, MissingFigureError, Stat, dig, number, quantity, spread
from bench.markdown import notes, table

Results = Mapping[str, Any]


@dataclass(frozen=True)
class Row:
    """One figure: its label, where its statistic is, and its unit. With ``per_bytes``
    (a path to a byte count), a time is shown as a rate in MB/s instead."""

    label: str
    path: tuple[str, ...]
    unit: str = "s"
    per_bytes: tuple[str, ...] = ()


def _runs_near(results: Results, path: tuple[str, ...]) -> int | None:
    """The run count the module recorded beside a statistic or in a parent of it."""
    for depth in range(len(path) - 1, 0, -1):
        try:
            return int(number(results, *path[:depth], "runs"))
        except MissingFigureError:
            continue
    return None


def _cell(results: Results, row: Row) -> str:
    stat = Stat.read(results, *row.path)
    stat = stat.counted(_runs_near(results, row.path))
    text = spread(stat, row.unit)
    if row.per_bytes:
        size = number(results, *row.per_bytes)
        rate = stat.map(lambda seconds: size / seconds / 1e6)
        text = f"{spread(rate, 'MB/s')}; {quantity(stat.median, 's')}"
    return text


def _table(results: Results, rows: list[Row]) -> list[str]:
    found = []
    for row in rows:
        try:
            found.append([row.label, _cell(results, row)])
        except MissingFigureError:
            continue
    return table(["figure", f"median (min{DASH}max, runs)"], found, "lr") if found else []


def _heading(results: Results, title: str, key: str) -> tuple[list[str], bool]:
    """The section's heading, and whether its module's figures are there."""
    lines = [f"## {title}", ""]
    try:
        dig(results, key)
    except MissingFigureError as why:
        return [*lines, f"Not measured in this run: {why}.", ""], False
    return lines, True


def modelfile_parse(results: Results) -> list[str]:
    """Issue 2: parse, validate and format a 1 MB Modelfile."""
    lines, present = _heading(results, "Modelfile parsing", "modelfile_parse")
    if present:
        try:
            size, count, instructions = (
                number(results, "modelfile_parse", key)
                for key in ("bytes", "lines", "instructions")
            )
            lines += [
                f"Input: {size:,.0f} bytes, {count:,.0f} lines, {instructions:,.0f} instructions.",
                "",
            ]
        except MissingFigureError:
            pass
        lines += _table(
            results,
            [
                Row("`modelfile.parse` (text → syntax tree)", ("modelfile_parse", "parse")),
                Row("`Modelfile.validate()` (→ typed spec)", ("modelfile_parse", "validate")),
                Row("`modelfile.format` (→ canonical text)", ("modelfile_parse", "format")),
            ],
        )
    return [*lines, *notes("modelfile_parse")]


def builder(results: Results) -> list[str]:
    """Issue 3: derived create, GGUF import against cp, ``ladle list``, quantization."""
    lines, present = _heading(results, "Model images (store and builder)", "builder")
    if present:
        size = ("builder", "gguf_import", "bytes")
        lines += _table(
            results,
            [
                Row(
                    "derived image over SmolLM2 (in-process `build_file`)",
                    ("builder", "derived_create"),
                ),
                Row("`ladle list`, 200 images (CLI, wall clock)", ("builder", "list_200", "cli")),
                Row(
                    "reading the 200 manifests (in-process)",
                    ("builder", "list_200", "store_images"),
                ),
                Row(
                    "GGUF import, whole `ladle create`",
                    ("builder", "gguf_import", "ladle_create"),
                    per_bytes=size,
                ),
                Row(
                    "GGUF import, copy step alone",
                    ("builder", "gguf_import", "ladle_copy_step"),
                    per_bytes=size,
                ),
                Row(
                    "`cp` of the same GGUF, then `sync`",
                    ("builder", "gguf_import", "cp"),
                    per_bytes=size,
                ),
                Row(
                    "llama.cpp quantizer alone, F16 → Q8_0",
                    ("builder", "quantize", "quantize_Q8_0"),
                ),
                Row(
                    "llama.cpp quantizer alone, F16 → Q4_K_M",
                    ("builder", "quantize", "quantize_Q4_K_M"),
                ),
                Row(
                    "`--quantize Q4_K_M`, whole build",
                    ("builder", "quantize", "create_quantize_Q4_K_M"),
                ),
                Row(
                    "the same again, from the build cache",
                    ("builder", "quantize", "create_quantize_Q4_K_M_cached"),
                ),
            ],
        )
        try:
            written = number(results, "builder", "derived_create", "bytes_written_max")
            lines += [f"Bytes a derived create wrote (largest of the runs): {written:,.0f}.", ""]
        except MissingFigureError:
            pass
    return [*lines, *notes("builder")]


def render(results: Results) -> list[str]:
    """Issue 4: render and compile times of three kinds of chat template."""
    lines, present = _heading(results, "Chat templates", "render")
    if present:
        rows = []
        for key, name in (
            ("gguf_jinja", "SmolLM2's own GGUF Jinja template"),
            ("go_messages", "Ollama Go template, `.Messages` mode, converted"),
            ("go_legacy", "Ollama Go template, legacy mode, converted"),
        ):
            try:
                rows.append(
                    [
                        name,
                        spread(Stat.read(results, "render", key, "render_20"), "s"),
                        spread(Stat.read(results, "render", key, "compile"), "s"),
                    ]
                )
            except MissingFigureError:
                continue
        lines += table(
            ["template", "render (20 messages)", "compile (once per image)"], rows, "lrr"
        )
        try:
            detection = spread(Stat.read(results, "render", "detect_family"), "s")
            lines += [f"Template family detection (once per build): {detection}.", ""]
        except MissingFigureError:
            pass
    return [*lines, *notes("render")]


def registry(results: Results) -> list[str]:
    """Issue 6: pull and push against a loopback registry, next to curl."""
    lines, present = _heading(results, "Registry (pull and push)", "registry")
    if present:
        image, blob = ("registry", "image_bytes"), ("registry", "weights_bytes")
        lines += _table(
            results,
            [
                Row(
                    "`pull_model` of the image into an empty store",
                    ("registry", "pull"),
                    per_bytes=image,
                ),
                Row(
                    "`ladle pull` (the command, a new process)",
                    ("registry", "pull_cli"),
                    per_bytes=image,
                ),
                Row("`curl -o` of the weights' blob", ("registry", "curl_get"), per_bytes=blob),
                Row("`push_model` to a new repository", ("registry", "push"), per_bytes=image),
                Row(
                    "`curl --upload-file` of the weights' blob",
                    ("registry", "curl_upload"),
                    per_bytes=blob,
                ),
            ],
        )
    return [*lines, *notes("registry")]


def tui(results: Results) -> list[str]:
    """Issue 5: the chat TUI's streaming capacity and startup."""
    lines, present = _heading(results, "Terminal chat (TUI)", "tui")
    if present:
        rows = []
        for name, key, unit in (
            ("tokens/s the app takes in without dropping text", "stream_tps_capacity", "tok/s"),
            ("pieces dropped or reordered", "dropped", ""),
            ("startup to an input prompt", "startup_s", "s"),
        ):
            try:
                stat = Stat.read(results, "tui", key)
                rows.append([name, spread(stat, unit)])
            except MissingFigureError:
                try:
                    value = number(results, "tui", key)
                except MissingFigureError:
                    continue
                rows.append([name, quantity(value, unit) if unit else f"{value:,.0f}"])
        lines += table(["figure", "measured"], rows, "lr")
    return [*lines, *notes("tui")]
