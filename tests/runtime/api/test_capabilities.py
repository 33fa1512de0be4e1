"""``/api/show``'s ``capabilities``, computed from the image (template, vocabulary,
architecture, RENDERER/PARSER), and ``/v1/models`` entries beside them.

The expectations are Ollama's rules, written out by hand: ``completion`` for weights
that are not an embedding model; ``tools`` for a chat template that mentions tools (or
a Go template reading ``.Tools``) or a PARSER that reads tool calls; ``thinking`` for a
template with ``<think>`` tags or a reasoning PARSER; ``insert`` for a Go template
reading ``.Suffix`` and, beyond Ollama, for weights with fill-in-the-middle tokens.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import pytest

from builder.store.store import Store
from tests.fixtures.installed import require_bundled_model
from tests.fixtures.tiny_gguf import write_tiny_llama

from .conftest import MakeClient, build

pytestmark = pytest.mark.anyio

_INDEX = json.loads(files("builder.templates").joinpath("template_families.json").read_text())

QWEN25 = (  # Qwen2.5-Instruct's chat template, shortened: tools in, <tool_call> out
    "{%- if tools %}<|im_start|>system\n# Tools\n<tools>{% for tool in tools %}"
    "{{ tool | tojson }}{% endfor %}</tools>\nReturn <tool_call></tool_call>.<|im_end|>\n"
    "{%- endif %}{% for message in messages %}<|im_start|>{{ message.role }}\n"
    "{{ message.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n"
)
QWEN3 = QWEN25.replace("<|im_start|>assistant\n", "<|im_start|>assistant\n<think>\n\n</think>\n")


def _ollama_rule(template: str) -> list[str]:
    """Ollama's capabilities of a GGUF chat template (server/images.go,
    ``chatTemplateHasToolSupport`` and ``chatTemplateHasThinkingSupport``)."""
    found = ["completion"]
    if "tools" in template or "tool_call" in template:
        found.append("tools")
    if "<think>" in template and "</think>" in template:
        found.append("thinking")
    return found


# name -> (the Modelfile's lines after FROM, a GGUF chat template or None, FIM tokens?,
#          the capabilities expected)
FAMILIES: dict[str, tuple[str, str | None, bool, list[str]]] = {
    **{
        f"index-{number}-{entry['name']}": (
            "",
            entry["template"],
            False,
            _ollama_rule(entry["template"]),
        )
        for number, entry in enumerate(_INDEX["index"])
    },
    "qwen2.5": ("", QWEN25, False, ["completion", "tools"]),
    "qwen3": ("", QWEN3, False, ["completion", "tools", "thinking"]),
    "go-tools": (
        'TEMPLATE """{{ if .Tools }}{{ json .Tools }}{{ end }}{{ .Prompt }}"""\n',
        None,
        False,
        ["completion", "tools"],
    ),
    "go-suffix": (
        'TEMPLATE """{{ if .Suffix }}<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>'
        '{{ else }}{{ .Prompt }}{{ end }}"""\n',
        None,
        False,
        ["completion", "insert"],
    ),
    "fim-tokens": ("", None, True, ["completion", "insert"]),
    "renderer-alone": ("RENDERER qwen3-coder\n", None, False, ["completion"]),
    "renderer-parser": (
        "RENDERER qwen3-coder\nPARSER qwen3\n",
        None,
        False,
        ["completion", "tools"],
    ),
    "parser-thinking": (
        "PARSER qwen3-thinking\n",
        None,
        False,
        ["completion", "tools", "thinking"],
    ),
    "parser-glimmer": ("PARSER glimmer\n", None, False, ["completion", "tools", "thinking"]),
}


@pytest.fixture
def family_models(models: Path, tmp_path: Path) -> Path:
    store, source = Store(models), tmp_path / "src"
    source.mkdir()
    for number, (name, (lines, chat_template, fim, _)) in enumerate(FAMILIES.items()):
        weights = source / f"{number}.gguf"
        write_tiny_llama(weights, chat_template=chat_template, fim="ids" if fim else None)
        build(store, source, name, f"FROM {weights}\n{lines}")
    return models


async def test_the_capabilities_of_each_family(
    make_client: MakeClient, family_models: Path
) -> None:
    client = await make_client()
    shown = {}
    for name in FAMILIES:
        response = await client.post("/api/show", json={"model": name})
        assert response.status_code == 200, response.text
        shown[name] = response.json()["capabilities"]
    assert shown == {name: expected for name, (_, _, _, expected) in FAMILIES.items()}


async def test_show_names_the_renderer_and_parser(
    make_client: MakeClient, family_models: Path
) -> None:
    client = await make_client()
    both = (await client.post("/api/show", json={"model": "renderer-parser"})).json()
    assert (both["renderer"], both["parser"]) == ("qwen3-coder", "qwen3")
    plain = (await client.post("/api/show", json={"model": "qwen2.5"})).json()
    assert "renderer" not in plain and "parser" not in plain  # left out, as Ollama does


async def test_the_bundled_models(make_client: MakeClient) -> None:
    require_bundled_model("smollm2:135m")
    require_bundled_model("gemma3:270m")
    client = await make_client()
    for name in ("smollm2:135m", "gemma3:270m"):
        pulled = await client.post("/api/pull", json={"model": name, "stream": False})
        assert pulled.status_code == 200, pulled.text
    capabilities = {
        name: (await client.post("/api/show", json={"model": name})).json()["capabilities"]
        for name in ("smollm2:135m", "gemma3:270m")
    }
    # SmolLM2's template writes no tools and no <think>; its vocabulary, like Gemma 3's,
    # has no FIM tokens; Gemma 3 270M is a base model without a chat template.
    assert capabilities == {"smollm2:135m": ["completion"], "gemma3:270m": ["completion"]}
    listed = (await client.get("/v1/models")).json()
    assert listed["object"] == "list"
    entries = {entry["id"]: entry for entry in listed["data"]}
    for name in ("smollm2:135m", "gemma3:270m"):
        entry = entries[name]
        assert entry["object"] == "model" and isinstance(entry["created"], int)
        assert isinstance(entry["owned_by"], str) and entry["owned_by"]
