"""Credentials (ladle's file, Docker's config.json), challenges, token realms, and Basic
authentication against the real registry with an htpasswd file."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from builder.distribution import login, pull_model, push_model
from builder.registry.auth import Challenge, Credentials, CredentialStore, check_realm
from builder.registry.client import RegistryClient, is_loopback
from builder.store.store import Store
from ladle.errors import RegistryAuthError, UntrustedRegistryError
from ladle.settings import Settings
from tests.builder.registry.conftest import build_tiny
from tests.conftest import REGISTRY_USER
from tests.fixtures.registry import RegistryServer

USER = Credentials(*REGISTRY_USER)


def test_challenges_are_parsed_as_rfc_7235_writes_them() -> None:
    bearer = Challenge.parse(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:me/bot:pull,push"'
    )
    assert bearer.scheme == "bearer"
    assert bearer.params == {
        "realm": "https://auth.example.com/token",
        "service": "registry.example.com",
        "scope": "repository:me/bot:pull,push",
    }
    assert Challenge.parse('Basic realm="a \\"quoted\\" realm"').params == {
        "realm": 'a "quoted" realm'
    }
    assert Challenge.parse("").scheme == ""


@pytest.mark.parametrize(
    ("realm", "host", "allowed"),
    [
        ("https://registry.example.com/token", "registry.example.com", True),
        ("https://registry.example.com:5001/token", "registry.example.com", True),
        ("https://ollama.com:443/token", "registry.ollama.ai", True),
        ("https://evil.example.net/token", "registry.example.com", False),
        ("https://ollama.com/token", "registry.example.com", False),
        ("http://registry.example.com/token", "registry.example.com", False),
        ("https://user:pw@registry.example.com/token", "registry.example.com", False),
    ],
)
def test_token_realms_must_be_on_the_registrys_host(realm: str, host: str, allowed: bool) -> None:
    if allowed:
        assert check_realm(realm, host, allow_http=False).host
    else:
        with pytest.raises(UntrustedRegistryError):
            check_realm(realm, host, allow_http=False)


def test_plain_http_only_for_loopback_or_when_asked() -> None:
    assert is_loopback("localhost:5000") and is_loopback("127.0.0.1:5000")
    assert not is_loopback("registry.example.com")
    assert RegistryClient("localhost:5000").base.scheme == "http"
    assert RegistryClient("registry.example.com").base.scheme == "https"
    assert RegistryClient("registry.example.com", insecure=True).base.scheme == "http"


def test_login_credentials_are_saved_readable_by_their_owner_only(settings: Settings) -> None:
    saved = CredentialStore(settings.registry)
    saved.save("localhost:5000", Credentials("me", "pw:with:colons"))
    mode = stat.S_IMODE(settings.registry.credentials.stat().st_mode)
    assert mode == 0o600
    document = json.loads(settings.registry.credentials.read_text())
    assert document == {
        "auths": {"localhost:5000": {"auth": base64.b64encode(b"me:pw:with:colons").decode()}}
    }
    assert saved.find("LOCALHOST:5000") == Credentials(
        "me", "pw:with:colons", str(settings.registry.credentials)
    )
    settings.registry.credentials.chmod(0o644)
    saved.save("other:5000", Credentials("you", "x"))
    assert stat.S_IMODE(settings.registry.credentials.stat().st_mode) == 0o600
    assert saved.remove("localhost:5000") and not saved.remove("localhost:5000")
    assert saved.find("localhost:5000") is None


def test_dockers_config_is_read_after_ladles_own(settings: Settings) -> None:
    docker = settings.registry.docker_config
    docker.parent.mkdir(parents=True)
    docker.write_text(
        json.dumps(
            {
                "auths": {
                    "https://registry.example.com/v1/": {
                        "auth": base64.b64encode(b"docker-user:pw").decode()
                    },
                    "localhost:5000": {"username": "plain", "password": "text"},
                    "broken:1": {"auth": "not base64!"},
                },
                "credsStore": "desktop",
            }
        )
    )
    saved = CredentialStore(settings.registry)
    assert saved.find("registry.example.com") == Credentials("docker-user", "pw", str(docker))
    assert saved.find("localhost:5000") == Credentials("plain", "text", str(docker))
    assert saved.find("broken:1") is None
    saved.save("localhost:5000", Credentials("mine", "pw"))
    assert saved.find("localhost:5000").username == "mine"  # type: ignore[union-attr]


def test_an_unreadable_credentials_file_is_reported(settings: Settings) -> None:
    settings.registry.credentials.parent.mkdir(parents=True)
    settings.registry.credentials.write_text("{not json")
    with pytest.raises(RegistryAuthError, match="cannot read the credentials file"):
        CredentialStore(settings.registry).find("localhost:5000")


def test_basic_auth_against_the_real_registry(
    auth_registry: RegistryServer,
    store: Store,
    settings: Settings,
    tmp_path: Path,
    tiny_model: Path,
) -> None:
    name = f"{auth_registry.host}/me/private"
    built = build_tiny(store, tmp_path / "project", tiny_model, name)
    with pytest.raises(RegistryAuthError, match="it asks for credentials, and none are saved"):
        push_model(name, store, settings)
    with pytest.raises(RegistryAuthError, match="refused the credentials of 'me'"):
        login(auth_registry.host, Credentials("me", "wrong"), settings)
    assert not settings.registry.credentials.exists()  # nothing saved on failure
    assert login(auth_registry.host, USER, settings) == settings.registry.credentials
    assert push_model(name, store, settings) == built
    assert pull_model(name, Store(tmp_path / "elsewhere"), settings) == built


def test_basic_auth_from_dockers_config(
    auth_registry: RegistryServer,
    store: Store,
    settings: Settings,
    tmp_path: Path,
    tiny_model: Path,
) -> None:
    name = f"{auth_registry.host}/me/from-docker"
    built = build_tiny(store, tmp_path / "project", tiny_model, name)
    docker = settings.registry.docker_config
    docker.parent.mkdir(parents=True)
    pair = base64.b64encode(":".join(REGISTRY_USER).encode()).decode()
    docker.write_text(json.dumps({"auths": {f"http://{auth_registry.host}": {"auth": pair}}}))
    assert push_model(name, store, settings) == built
    assert pull_model(name, Store(tmp_path / "elsewhere"), settings) == built


def test_library_names_go_to_ollamas_registry_over_https(store: Store, settings: Settings) -> None:
    import httpx

    from ladle.errors import RemoteNotFoundError

    seen: list[httpx.Request] = []

    def registry(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]})

    for name, path in [
        ("gemma3", "library/gemma3/manifests/latest"),
        ("llama3.2:1b", "library/llama3.2/manifests/1b"),
        ("someone/model:q4", "someone/model/manifests/q4"),
    ]:
        with pytest.raises(RemoteNotFoundError):
            pull_model(name, store, settings, transport=httpx.MockTransport(registry))
        assert str(seen[-1].url) == f"https://registry.ollama.ai/v2/{path}"
        assert "application/vnd.docker.distribution.manifest.v2+json" in seen[-1].headers["accept"]
