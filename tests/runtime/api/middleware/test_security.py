"""The HTTP API's defences: Host check, CORS, API keys, and streaming left unbuffered."""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.types import Message

from ladle.errors import SettingsError
from ladle.security_values import DEFAULT_ORIGINS, ApiKey, parse_rate_limit
from ladle.settings import DEFAULT_SHARED_RATE_LIMIT, Settings
from runtime.api.middleware.security import is_loopback
from tests.runtime.api.middleware.security_app import bearer, call, make_app, make_settings

USER_KEY = "user-key-0123456789abcdef"
ADMIN_KEY = "admin-key-0123456789abcdef"
KEYS = (
    ApiKey(secret=SecretStr(USER_KEY), scope="user"),
    ApiKey(secret=SecretStr(ADMIN_KEY), scope="admin"),
)


def environment(**variables: str) -> Settings:
    return Settings.from_environment({"LADLE_MODELS": "/nonexistent", **variables})


# The Host check (DNS rebinding)


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:11434", "LOCALHOST.", "127.0.0.1:8080", "[::1]:11434", "[::1]"]
)
def test_a_loopback_host_is_served(host: str) -> None:
    response = call(make_app(), "GET", "/api/version", headers={"Host": host})
    assert response.status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:11434", "0.0.0.0:11434", ""])
def test_another_host_is_refused_on_a_loopback_bind(host: str) -> None:
    response = call(make_app(), "GET", "/api/version", headers={"Host": host})
    assert response.status_code == 403
    assert "is not allowed" in response.json()["error"]


def test_the_host_refusal_on_v1_is_an_openai_error() -> None:
    response = call(make_app(), "GET", "/v1/models", headers={"Host": "evil.example"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "host_not_allowed"


def test_allowed_hosts_extend_loopback_names() -> None:
    app = make_app(make_settings(allowed_hosts=frozenset({"llm.example.com"})))
    assert call(app, "GET", "/api/version", headers={"Host": "llm.example.com"}).status_code == 200
    assert call(app, "GET", "/api/version", headers={"Host": "evil.example"}).status_code == 403


def test_a_public_bind_answers_any_host_unless_hosts_are_named() -> None:
    public = make_app(make_settings(host="0.0.0.0"))
    assert call(public, "GET", "/api/version", headers={"Host": "gpu-box:11434"}).status_code == 200
    named = make_app(make_settings(host="0.0.0.0", allowed_hosts=frozenset({"gpu-box"})))
    assert call(named, "GET", "/api/version", headers={"Host": "gpu-box:11434"}).status_code == 200
    assert call(named, "GET", "/api/version", headers={"Host": "other"}).status_code == 403


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("::", False), ("192.168.1.2", False),
     ("example.com", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


# CORS


@pytest.mark.parametrize(
    "origin",
    ["http://localhost", "http://localhost:3000", "https://127.0.0.1:8443", "http://[::1]:5173"],
)
def test_a_local_origin_is_allowed_by_default(origin: str) -> None:
    response = call(make_app(), "GET", "/api/version", headers={"Origin": origin})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    assert "Origin" in response.headers["vary"]


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "http://localhost.evil.example", "file://"]
)
def test_another_origin_is_refused(origin: str) -> None:
    response = call(make_app(), "POST", "/api/generate", json={}, headers={"Origin": origin})
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
    assert "LADLE_ORIGINS" in response.json()["error"]


def test_a_preflight_from_an_allowed_origin_is_answered() -> None:
    headers = {
        "Origin": "http://localhost:3000",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    response = call(make_app(), "OPTIONS", "/api/generate", headers=headers)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "authorization, content-type"


def test_a_preflight_needs_no_key_but_the_request_does() -> None:
    app = make_app(make_settings(api_keys=KEYS))
    preflight = {"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"}
    assert call(app, "OPTIONS", "/v1/models", headers=preflight).status_code == 204
    response = call(app, "GET", "/v1/models", headers={"Origin": "http://localhost:3000"})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"


def test_a_preflight_from_another_origin_is_refused() -> None:
    headers = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    response = call(make_app(), "OPTIONS", "/api/generate", headers=headers)
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


def test_ladle_origins_adds_origins() -> None:
    settings = environment(LADLE_ORIGINS="https://app.example.com, https://tools.example.com:*")
    assert settings.security.origins[: len(DEFAULT_ORIGINS)] == DEFAULT_ORIGINS
    app = make_app(settings)
    for origin in ("https://app.example.com", "https://tools.example.com:8443"):
        assert call(app, "GET", "/api/version", headers={"Origin": origin}).status_code == 200
    refused = call(app, "GET", "/api/version", headers={"Origin": "https://app.example.com:444"})
    assert refused.status_code == 403


@pytest.mark.parametrize("value", ["*", "null", "https://*.example.com", "example.com"])
def test_ladle_origins_refuses_wildcards_and_null(value: str) -> None:
    with pytest.raises(SettingsError, match="LADLE_ORIGINS"):
        environment(LADLE_ORIGINS=value)


# API keys


def test_without_keys_every_route_is_open() -> None:
    assert call(make_app(), "DELETE", "/api/delete").status_code == 200


def test_a_request_without_a_key_gets_401_and_nothing_else() -> None:
    response = call(make_app(make_settings(api_keys=KEYS)), "POST", "/api/generate", json={})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert list(body) == ["error"]
    assert body["error"] == "a valid API key is required (Authorization: Bearer <key>)"


def test_a_missing_key_on_v1_is_an_openai_error() -> None:
    response = call(make_app(make_settings(api_keys=KEYS)), "GET", "/v1/models")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_api_key"
    assert error["message"]


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {USER_KEY}x", f"Bearer {USER_KEY[:-1]}", f"Basic {USER_KEY}", USER_KEY],
)
def test_a_wrong_key_gets_401(authorization: str) -> None:
    app = make_app(make_settings(api_keys=KEYS))
    response = call(app, "GET", "/v1/models", headers={"Authorization": authorization})
    assert response.status_code == 401


def test_a_user_key_runs_models_but_may_not_change_the_store() -> None:
    app = make_app(make_settings(api_keys=KEYS))
    assert call(app, "GET", "/v1/models", headers=bearer(USER_KEY)).status_code == 200
    assert call(app, "POST", "/api/generate", json={}, headers=bearer(USER_KEY)).status_code == 200
    for method, path in [("DELETE", "/api/delete"), ("POST", "/api/blobs/sha256:00")]:
        response = call(app, method, path, headers=bearer(USER_KEY))
        assert response.status_code == 403
        assert "admin" in response.json()["error"]


def test_an_admin_key_may_change_the_store() -> None:
    app = make_app(make_settings(api_keys=KEYS))
    assert call(app, "DELETE", "/api/delete", headers=bearer(ADMIN_KEY)).status_code == 200
    assert call(app, "GET", "/v1/models", headers=bearer(ADMIN_KEY)).status_code == 200


def test_the_version_stays_public() -> None:
    app = make_app(make_settings(api_keys=KEYS))
    assert call(app, "GET", "/api/version").json() == {"version": "0.0.0"}


def test_keys_are_compared_with_hmac_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    app = make_app(make_settings(api_keys=KEYS))
    assert call(app, "GET", "/v1/models", headers=bearer(USER_KEY)).status_code == 200
    # Every key is compared, the match first or not, as digests of one length.
    assert len(compared) == len(KEYS)
    assert {len(a) for pair in compared for a in pair} == {32}


def test_keys_come_from_the_environment_and_a_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("# team keys\nteam-key-1\n\nadmin:ops-key-2\n", encoding="utf-8")
    settings = environment(LADLE_API_KEYS="k1, admin:k2", LADLE_API_KEY_FILE=str(key_file))
    keys = [(key.secret.get_secret_value(), key.scope) for key in settings.security.api_keys]
    assert keys == [("k1", "user"), ("k2", "admin"), ("team-key-1", "user"), ("ops-key-2", "admin")]
    assert "k2" not in repr(settings)


def test_a_bad_key_is_reported_without_showing_it() -> None:
    with pytest.raises(SettingsError) as caught:
        environment(LADLE_API_KEYS="good-key,admin:bad key")
    assert "bad key" not in str(caught.value)
    assert "LADLE_API_KEYS" in str(caught.value)
    assert "entry 2" in str(caught.value)


def test_an_unreadable_key_file_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="LADLE_API_KEY_FILE"):
        environment(LADLE_API_KEY_FILE=str(tmp_path / "missing"))


# Streaming passes through every middleware unbuffered


def test_a_streamed_response_is_not_buffered() -> None:
    async def scenario() -> list[bytes]:
        release = asyncio.Event()
        app = make_app(make_settings(api_keys=KEYS), release=release)
        received: list[bytes] = []
        body = json.dumps({"prompt": "hello"}).encode()
        request = {"type": "http.request", "body": body, "more_body": False}
        first_line = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if request.get("sent"):
                await asyncio.Event().wait()  # no disconnect while the response streams
            request["sent"] = True
            return {key: value for key, value in request.items() if key != "sent"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                received.append(message["body"])
                first_line.set()

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": "/api/generate", "raw_path": b"",
            "root_path": "", "query_string": b"", "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 11434),
            "headers": [(b"host", b"127.0.0.1:11434"), (b"content-type", b"application/json"),
                        (b"authorization", f"Bearer {USER_KEY}".encode())],
        }  # fmt: skip
        served = asyncio.create_task(app(scope, receive, send))
        # The first line arrives while the handler still waits: nothing held it back.
        await asyncio.wait_for(first_line.wait(), timeout=5)
        assert not served.done()
        assert len(received) == 1
        release.set()
        await asyncio.wait_for(served, timeout=5)
        return received

    lines = asyncio.run(scenario())
    assert [json.loads(line)["done"] for line in lines] == [False, True]


# docs/security.md's examples

DOCS = Path(__file__).parents[4] / "docs" / "security.md"


def test_the_documented_server_setups_are_accepted(tmp_path: Path) -> None:
    text = DOCS.read_text(encoding="utf-8")
    key_file = tmp_path / "api-keys"
    key_file.write_text(re.findall(r"```text\n(.*?)```", text, re.DOTALL)[0], encoding="utf-8")
    setups = [
        block for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL) if "export" in block
    ]
    assert len(setups) == 2
    for block in setups:
        exports = dict(
            shlex.split(line.removeprefix("export "))[0].split("=", 1)
            for line in block.splitlines()
            if line.startswith("export ")
        )
        if "LADLE_API_KEY_FILE" in exports:
            exports["LADLE_API_KEY_FILE"] = str(key_file)
        security = environment(**exports).security
        assert {key.scope for key in security.api_keys} == {"user", "admin"}
        assert security.rate_limit is not None and security.rate_limit.tokens is not None


def test_the_documented_default_rate_limit_is_the_default() -> None:
    assert "`600/min,100000tokens/min` on any other" in DOCS.read_text(encoding="utf-8")
    assert parse_rate_limit("600/min,100000tokens/min") == DEFAULT_SHARED_RATE_LIMIT
