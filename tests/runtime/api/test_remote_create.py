"""``ladle create NAME -f Modelfile --host URL`` against a live server: local files are
uploaded through ``/api/blobs`` (once), the rest goes in ``/api/create``'s JSON form, and
the server's errors reach the user by message."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from builder.store.store import Store
from modelfile import parse
from runtime.remote_create import create_request, hashed

from .test_live_server import Server, live_server


@pytest.fixture(scope="module")
def served(built_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with live_server(built_store, tmp_path_factory.mktemp("remote-create")) as server:
        yield server


@pytest.fixture
def project(tmp_path: Path, tiny_model: Path, tiny_lora: Path) -> Path:
    """A Modelfile folder with the tiny model and LoRA beside it, as a user keeps them."""
    shutil.copy(tiny_model, tmp_path / "tiny.gguf")
    (tmp_path / "adapters").mkdir()
    shutil.copy(tiny_lora, tmp_path / "adapters" / "style.gguf")
    return tmp_path


def write(folder: Path, text: str) -> Path:
    path = folder / "Modelfile"
    path.write_text(text, encoding="utf-8")
    return path


MODELFILE = """\
FROM ./tiny.gguf
ADAPTER adapters/style.gguf
PARAMETER temperature 0.2
PARAMETER stop "<end>"
SYSTEM You answer in one line.
MESSAGE user Hi
MESSAGE assistant Hello.
LICENSE MIT
"""


def test_the_request_names_local_files_by_digest(project: Path) -> None:
    spec = parse(MODELFILE, "Modelfile").validate()
    request, files = create_request(spec, project, quantize="Q8_0")
    model, adapter = hashed(project / "tiny.gguf"), hashed(project / "adapters" / "style.gguf")
    assert files == [model, adapter]
    assert request == {
        "files": {"tiny.gguf": model.digest},
        "adapters": {"style.gguf": adapter.digest},
        "system": "You answer in one line.",
        "license": ["MIT"],
        "parameters": {"temperature": 0.2, "stop": ["<end>"]},
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
        ],
        "quantize": "Q8_0",
    }
    named = parse("FROM tiny\nSYSTEM terse\n", "Modelfile").validate()
    assert create_request(named, project) == ({"from": "tiny", "system": "terse"}, [])


def test_create_uploads_the_files_and_builds_on_the_server(served: Server, project: Path) -> None:
    path = write(project, MODELFILE)
    created = served.ladle("create", "remote-bot", "-f", str(path), "--host", served.url)
    assert created.returncode == 0, created.stderr
    assert f"created remote-bot:latest on {served.url}" in created.stdout
    assert "uploading" in created.stderr and "success" not in created.stderr
    shown = httpx.post(f"{served.url}/api/show", json={"model": "remote-bot"}, timeout=30).json()
    assert shown["system"] == "You answer in one line." and shown["license"] == "MIT"
    assert "temperature" in shown["parameters"] and "ADAPTER" in shown["modelfile"]
    store = Store(served.models)
    for file in (project / "tiny.gguf", project / "adapters" / "style.gguf"):
        assert store.has_blob(hashed(file).digest)
    ask = {"model": "remote-bot", "prompt": "hi", "stream": False, "options": {"num_predict": 2}}
    answer = httpx.post(f"{served.url}/api/generate", json=ask, timeout=60)
    assert answer.status_code == 200 and answer.json()["eval_count"] == 2
    again = served.ladle("create", "remote-bot:2", "-f", str(path), "--host", served.url)
    assert again.returncode == 0, again.stderr
    assert "uploading" not in again.stderr and "on the server" in again.stderr


def test_from_a_name_is_resolved_by_the_server(served: Server, project: Path) -> None:
    path = write(project, "FROM tiny\nSYSTEM Be brief.\n")
    created = served.ladle("create", "brief", "-f", str(path), "--host", served.url)
    assert created.returncode == 0, created.stderr
    shown = httpx.post(f"{served.url}/api/show", json={"model": "brief"}, timeout=30).json()
    assert shown["system"] == "Be brief."


def test_errors_name_the_problem(served: Server, project: Path) -> None:
    unknown = served.ladle(
        "create", "x", "-f", str(write(project, "FROM nope\n")), "--host", served.url
    )
    assert unknown.returncode == 1 and "'nope:latest' not found" in unknown.stderr
    missing = served.ladle(
        "create", "x", "-f", str(write(project, "FROM tiny\nADAPTER ./gone.gguf\n")),
        "--host", served.url,
    )  # fmt: skip
    assert missing.returncode == 1 and "ADAPTER ./gone.gguf: no file at" in missing.stderr
    bad = served.ladle(
        "create", "x", "-f", str(write(project, "FROM tiny\nPARAMETER temprature 1\n")),
        "--host", served.url,
    )  # fmt: skip
    assert bad.returncode == 1 and "did you mean 'temperature'" in bad.stderr
    locked = served.ladle("create", "x", "--locked", "--host", served.url)
    assert locked.returncode != 0 and "--locked works on the local store only" in locked.stderr
    assert "Traceback" not in unknown.stderr + missing.stderr + bad.stderr + locked.stderr
