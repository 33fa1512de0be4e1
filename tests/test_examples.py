"""Every example Modelfile parses, validates without a diagnostic and is canonical;
its typed spec and its rendered prompts are pinned by snapshots."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

import modelfile
from builder.pipeline.preview import render_prompt
from builder.pipeline.resolver import Resolver
from builder.sources import bundled
from builder.store.store import Store
from ladle.errors import BuildError
from ladle.settings import Settings
from tests.conftest import EXAMPLES, load_fixture_json
from tests.fixtures.installed import require_bundled_model

FILES = sorted(EXAMPLES.glob("*/Modelfile"))


@pytest.mark.parametrize("path", FILES, ids=[path.parent.name for path in FILES])
def test_example(path: Path, snapshot: SnapshotAssertion) -> None:
    parsed = modelfile.parse_file(path)
    assert modelfile.check(parsed) == []
    assert modelfile.format(parsed) == path.read_text(encoding="utf-8")
    assert parsed.validate().to_create_request() == snapshot


# Prompt snapshots: every example's rendered prompt for the standard conversations
# (named by role sequence, as Ollama names its golden files), and one with tools for
# examples whose TEMPLATE takes them. An example whose FROM is not available offline
# (a registry model, a GGUF the user downloads) is rendered over the tiny test model;
# its TEMPLATE, SYSTEM and MESSAGE lines are what the snapshot pins.
_SETS = load_fixture_json("ollama", "ollama_template_cases.json")["message_sets"]
CONVERSATIONS: dict[str, list[dict[str, Any]]] = {
    "user": _SETS["user"],
    "system-user": [{"role": "system", "content": "You are a helpful assistant."}, *_SETS["user"]],
    "user-assistant-user": _SETS["user-assistant-user"],
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "disk_usage",
            "description": "Disk usage of a host, in percent",
            "parameters": {
                "type": "object",
                "properties": {"host": {"type": "string"}},
                "required": ["host"],
            },
        },
    }
]
TOOL_CONVERSATION = [
    {"role": "user", "content": "Is the disk on web-1 full?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"function": {"name": "disk_usage", "arguments": {"host": "web-1"}}}],
    },
    {"role": "tool", "content": '{"used": 97}'},
]


def _takes_tools(path: Path) -> bool:
    template = modelfile.parse_file(path).validate().template or ""
    return "tools" in template or ".Tools" in template


PROMPT_CASES = [
    pytest.param(path, name, id=f"{path.parent.name}-{name}")
    for path in FILES
    for name in [*CONVERSATIONS, *(["user-assistant-tool"] if _takes_tools(path) else [])]
]


def _offline(path: Path, tmp_path: Path, tiny_model: Path) -> Path:
    """``path`` if its FROM resolves here, else a copy of it FROM the tiny model."""
    reference = modelfile.parse_file(path).validate().from_
    if reference in bundled.MODELS:
        require_bundled_model(reference)  # skipped without ladle[models], failed on CI
        return path
    try:
        Resolver(Store(tmp_path / "models"), path.parent).resolve(reference)
        return path
    except BuildError:
        pass
    text = path.read_text(encoding="utf-8")
    copy = tmp_path / "Modelfile"
    copy.write_text(re.sub(r"(?im)^FROM .*$", f"FROM {tiny_model}", text, count=1))
    return copy


@pytest.mark.parametrize(("path", "conversation"), PROMPT_CASES)
def test_example_prompt(
    path: Path, conversation: str, tmp_path: Path, tiny_model: Path, snapshot: SnapshotAssertion
) -> None:
    renderable = _offline(path, tmp_path, tiny_model)
    settings = Settings(models=tmp_path / "models")
    if conversation == "user-assistant-tool":
        prompt = render_prompt(renderable, TOOL_CONVERSATION, TOOLS, settings=settings)
    else:
        prompt = render_prompt(renderable, CONVERSATIONS[conversation], settings=settings)
    assert prompt == snapshot
