"""runtime.client.LadleClient against scripted answers (httpx.MockTransport)."""

from __future__ import annotations

import json

import httpx
import pytest

from ladle.errors import ServerError, ServerUnreachableError
from ladle.settings import Settings
from runtime.client import LadleClient


def _client(handler: httpx.MockTransport, api_key: str | None = None) -> LadleClient:
    return LadleClient("http://127.0.0.1:1", api_key=api_key, transport=handler)


def test_a_busy_server_s_retry_after_reaches_the_error() -> None:
    def busy(request: httpx.Request) -> httpx.Response:
        body = {"error": "the server is busy: 16 requests are waiting"}
        return httpx.Response(503, json=body, headers={"Retry-After": "2"})

    with _client(httpx.MockTransport(busy)) as client, pytest.raises(ServerError) as caught:
        list(client.chat("tiny", [{"role": "user", "content": "hi"}]))
    assert caught.value.status == 503 and caught.value.retry_after == 2.0
    assert caught.value.message == "the server is busy: 16 requests are waiting"


@pytest.mark.parametrize("header", [None, "Wed, 21 Oct 2026 07:28:00 GMT", "-1", "99999"])
def test_a_retry_after_that_is_not_a_sane_number_of_seconds_is_ignored(
    header: str | None,
) -> None:
    headers = {} if header is None else {"Retry-After": header}
    transport = httpx.MockTransport(
        lambda _: httpx.Response(429, text="slow down", headers=headers)
    )
    with _client(transport) as client, pytest.raises(ServerError) as caught:
        client.tags()
    assert caught.value.retry_after is None and caught.value.message == "slow down"


def test_an_error_in_the_middle_of_a_stream_is_a_server_error() -> None:
    lines = [{"response": "Hel", "done": False}, {"error": "the runner crashed"}]
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    transport = httpx.MockTransport(lambda _: httpx.Response(200, content=body))
    pieces = []
    with _client(transport) as client, pytest.raises(ServerError, match="runner crashed"):
        pieces.extend(client.generate("tiny", "hi"))
    assert pieces == [{"response": "Hel", "done": False}]


def test_the_api_key_is_sent_as_a_bearer_token_when_set() -> None:
    seen: list[str | None] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        return httpx.Response(200, json={"models": []})

    for key in ("s3cret-key", None):
        with _client(httpx.MockTransport(record), api_key=key) as client:
            client.ps()
    assert seen == ["Bearer s3cret-key", None]


def test_ladle_api_key_is_read_into_the_settings_and_never_shown() -> None:
    settings = Settings.from_environment({"LADLE_API_KEY": " s3cret-key \n"})
    assert settings.api_key == "s3cret-key" and "s3cret" not in repr(settings)
    assert Settings.from_environment({}).api_key is None


def test_no_server_is_unreachable_with_the_address() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with _client(httpx.MockTransport(refuse)) as client, pytest.raises(ServerUnreachableError):
        client.version()
