"""Every ``curl`` example in README.md and docs/api.md runs, exactly as written, against
a live ``ladle serve``.

An example is a command line of a shell code block (``sh``, ``shell``, ``bash``, or
``console`` without its ``$ `` prompt) that starts with ``curl``; a line ending in a
backslash or inside an open quote goes on to the next. The examples run in document
order, each with ``bash -c`` after the variable assignments written before it in its
block (docs/api.md's upload computes ``digest=…`` first), in a folder holding
``model.gguf`` (the tiny model), so a later example may use what an earlier one made (the
create uses the blob the upload stored). The server's store has the models the examples
ask for built beforehand (:data:`BUILT`); the pull of ``smollm2:135m`` builds it from its
package, with no network.

The text says ``127.0.0.1:11434``. Rather than take that port (an Ollama or ``make
demo`` may hold it), the server listens on a free one and curl is sent there by its own
configuration file (``$CURL_HOME/.curlrc``: ``connect-to``), so the command runs
unchanged. The same file adds ``fail-with-body``: an HTTP error fails the example. Each
must exit 0 with output that is JSON, NDJSON or server-sent events holding no
``error`` (an upload's answer is empty).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from builder.pipeline.build import build_file
from builder.store.store import Store
from tests.fixtures.installed import missing, require_bundled_model
from tests.runtime.api.test_live_server import Server, live_server

ROOT = Path(__file__).parent.parent
DOCUMENTS = ("README.md", "docs/api.md")
DOCUMENTED_HOSTS = ("127.0.0.1:11434", "localhost:11434")
"""Where the examples send their requests; curl's configuration redirects both."""
BUILT = {"sre-bot": ROOT / "examples" / "sre-bot" / "Modelfile"}
"""The models the examples ask for, built into the server's store before they run."""
TEST_PARAMETERS = "PARAMETER num_predict 512\n"
"""Added to each of :data:`BUILT`'s Modelfiles in the test's copy. A 135M model at
temperature 0.3 now and then repeats itself until Ollama's bound of ten contexts (40,960
tokens here, many minutes on 2 cores): one such answer hung CI. The examples still run
as written; their answers are at most 512 tokens (done_reason ``length``)."""
SKIPPED: dict[str, str] = {}
"""Examples that cannot run in a test (a registry, a Hugging Face download), by a piece
of their text, with the reason. None today."""
EXAMPLE_TIMEOUT_S = 300

BLOCK = re.compile(r"^```(sh|shell|bash|console)\n(.*?)^```", re.DOTALL | re.MULTILINE)
ASSIGNMENT = re.compile(r"[A-Za-z_]\w*=")


@dataclass(frozen=True)
class Example:
    """A ``curl`` command as written at ``where``, and the assignments before it."""

    where: str
    command: str
    assignments: tuple[str, ...]

    def script(self) -> str:
        return "\n".join(("set -euo pipefail", *self.assignments, self.command))


def examples(document: str) -> Iterator[Example]:
    """The ``curl`` examples of ``document`` (a path under the repository root)."""
    text = (ROOT / document).read_text(encoding="utf-8")
    for block in BLOCK.finditer(text):
        first = text.count("\n", 0, block.start(2)) + 1
        assignments: list[str] = []
        for offset, command in commands(block[2], console=block[1] == "console"):
            if ASSIGNMENT.match(command):
                assignments.append(command)
            elif command.startswith("curl "):
                yield Example(f"{document}:{first + offset}", command, tuple(assignments))


def commands(block: str, *, console: bool) -> Iterator[tuple[int, str]]:
    """``(line offset, command)`` for each command of a code block; a console block's
    output lines are left out."""
    pending: list[str] = []
    start = 0
    for offset, line in enumerate(block.splitlines()):
        if not pending:
            if console and not line.startswith("$ "):
                continue
            start = offset
            if console:
                line = line.removeprefix("$ ")
        pending.append(line)
        command = "\n".join(pending)
        try:
            shlex.split(command, comments=True)  # a quote left open or a trailing backslash
        except ValueError:
            continue
        pending = []
        yield start, command


EXAMPLES = [example for document in DOCUMENTS for example in examples(document)]


def test_the_docs_have_curl_examples() -> None:
    where = {example.where.partition(":")[0] for example in EXAMPLES}
    assert where == set(DOCUMENTS) and len(EXAMPLES) >= 5
    for example in EXAMPLES:
        assert any(f"://{host}/" in example.command for host in DOCUMENTED_HOSTS), example
    for piece in SKIPPED:
        assert any(piece in example.command for example in EXAMPLES), f"stale skip: {piece}"


def _skip_reason(example: Example) -> str | None:
    return next((why for piece, why in SKIPPED.items() if piece in example.command), None)


@dataclass
class Docs:
    """The live server the examples reach, and how to run one."""

    server: Server
    folder: Path
    env: dict[str, str]

    def run(self, example: Example) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", example.script()],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=EXAMPLE_TIMEOUT_S,
            check=False,
        )


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Docs]:
    if shutil.which("curl") is None:
        missing("curl", "apt-get install curl, as .ci/run does")
    require_bundled_model("smollm2:135m")  # sre-bot is FROM smollm2:135m
    folder = tmp_path_factory.mktemp("docs-curl")
    store = Store(folder / "server" / "models")
    for name, modelfile in BUILT.items():
        bounded = folder / f"{name}.Modelfile"
        bounded.write_text(modelfile.read_text(encoding="utf-8") + TEST_PARAMETERS, "utf-8")
        build_file(bounded, name, store, lock="off")
    shutil.copy(tiny_model, folder / "model.gguf")
    with live_server(store.root, folder / "server") as server:  # serves the store as built
        port = server.url.rpartition(":")[2]
        redirects = [f"connect-to = {host}:127.0.0.1:{port}" for host in DOCUMENTED_HOSTS]
        settings = [*redirects, 'noproxy = "*"', "fail-with-body", "show-error"]
        (folder / ".curlrc").write_text("\n".join(settings) + "\n", encoding="utf-8")
        yield Docs(server, folder, {**os.environ, "CURL_HOME": str(folder)})


def answers(output: str) -> list[Any]:
    """The JSON values of an answer: one JSON document, NDJSON lines, or the ``data:`` of
    server-sent events (``[DONE]`` left out)."""
    text = output.strip()
    if not text:
        return []
    try:
        return [json.loads(text)]
    except ValueError:
        pass
    lines = [line for line in text.splitlines() if line.strip()]
    if all(line.startswith("data: ") for line in lines):
        payloads = [line.removeprefix("data: ") for line in lines]
        return [json.loads(payload) for payload in payloads if payload != "[DONE]"]
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize(
    "example",
    [
        pytest.param(example, marks=pytest.mark.skip(reason=why) if why else ())
        for example in EXAMPLES
        for why in [_skip_reason(example)]
    ],
    ids=[example.where for example in EXAMPLES],
)
def test_the_curl_example_runs_as_written(docs: Docs, example: Example) -> None:
    result = docs.run(example)
    report = f"{example.command}\nexit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, report
    try:
        values = answers(result.stdout)
    except ValueError:
        pytest.fail(f"the output is not JSON, NDJSON or server-sent events:\n{report}")
    uploads = "-T" in shlex.split(example.command, comments=True)
    assert values or uploads, report
    assert not any(isinstance(value, dict) and "error" in value for value in values), report
