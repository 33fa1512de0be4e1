"""Rate limits: requests and generated tokens per client, 429 with Retry-After."""

from __future__ import annotations

from ipaddress import ip_network

import pytest
from pydantic import SecretStr

from ladle.errors import SettingsError
from ladle.security_values import ApiKey, Quota, RateLimit, parse_rate_limit
from ladle.settings import DEFAULT_SHARED_RATE_LIMIT, Settings
from runtime.api.middleware.ratelimit import RateLimiter, get_rate_limiter
from tests.runtime.api.middleware.security_app import bearer, call, make_app, make_settings

TWO_PER_MINUTE = RateLimit(requests=Quota(amount=2, seconds=60))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("60/min", RateLimit(requests=Quota(amount=60, seconds=60))),
        ("60/min,20000tokens/min", RateLimit(
            requests=Quota(amount=60, seconds=60), tokens=Quota(amount=20000, seconds=60))),
        ("5000 tokens / hour", RateLimit(tokens=Quota(amount=5000, seconds=3600))),
        ("10/s", RateLimit(requests=Quota(amount=10, seconds=1))),
        ("off", RateLimit()),
    ],
)  # fmt: skip
def test_parse_rate_limit(text: str, limit: RateLimit) -> None:
    assert parse_rate_limit(text) == limit


@pytest.mark.parametrize("text", ["60", "60/day", "0/min", "1/min,2/min", "lots/min", "-1/s"])
def test_a_bad_rate_limit_is_a_settings_error(text: str) -> None:
    with pytest.raises(SettingsError, match="LADLE_RATE_LIMIT"):
        Settings.from_environment({"LADLE_MODELS": "/x", "LADLE_RATE_LIMIT": text})


def test_limits_are_off_by_default_on_loopback_and_on_elsewhere() -> None:
    assert not get_rate_limiter(make_app()).enabled
    public = get_rate_limiter(make_app(make_settings(host="0.0.0.0")))
    assert public.limit == DEFAULT_SHARED_RATE_LIMIT
    off = make_settings(host="0.0.0.0", rate_limit=RateLimit())
    assert not get_rate_limiter(make_app(off)).enabled


def test_too_many_requests_get_429_with_retry_after() -> None:
    app = make_app(make_settings(rate_limit=TWO_PER_MINUTE))
    assert [call(app, "GET", "/api/version").status_code for _ in range(2)] == [200, 200]
    refused = call(app, "GET", "/api/version")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 30
    assert "LADLE_RATE_LIMIT" in refused.json()["error"]
    v1 = call(app, "GET", "/v1/models").json()["error"]
    assert (v1["code"], v1["type"]) == ("rate_limit_exceeded", "requests")


def test_each_api_key_has_its_own_bucket() -> None:
    keys = tuple(ApiKey(secret=SecretStr(f"key-number-{n}")) for n in range(2))
    app = make_app(make_settings(rate_limit=TWO_PER_MINUTE, api_keys=keys))
    first, second = (bearer(f"key-number-{n}") for n in range(2))
    statuses = [call(app, "GET", "/v1/models", headers=first).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert call(app, "GET", "/v1/models", headers=second).status_code == 200


def test_a_client_in_token_debt_may_not_generate_until_it_refills() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(tokens=Quota(amount=600, seconds=60)), clock=clock)
    assert limiter.admit("addr:a", generating=True) is None
    limiter.charge_tokens("addr:a", 900)  # 300 tokens owed, refilled at 10 per second
    kind, wait = limiter.admit("addr:a", generating=True) or ("", 0.0)
    assert kind == "tokens"
    assert wait == pytest.approx(30.1)
    assert limiter.admit("addr:a", generating=False) is None  # listing models is fine
    assert limiter.admit("addr:b", generating=True) is None
    clock.now += 31
    assert limiter.admit("addr:a", generating=True) is None
    clock.now += 3600  # a full bucket earns nothing more while it waits
    limiter.charge_tokens("addr:a", 600)
    assert limiter.admit("addr:a", generating=True) == ("tokens", pytest.approx(0.1))


def test_token_debt_answers_429_on_generation_routes() -> None:
    app = make_app(make_settings(rate_limit=RateLimit(tokens=Quota(amount=100, seconds=60))))
    get_rate_limiter(app).charge_tokens("addr:127.0.0.1", 250)
    refused = call(app, "POST", "/api/generate", json={})
    assert refused.status_code == 429
    assert 85 <= int(refused.headers["retry-after"]) <= 91  # 151 tokens at 100 a minute
    assert call(app, "GET", "/api/version").status_code == 200


def test_a_trusted_proxy_names_the_client() -> None:
    limiter = RateLimiter(TWO_PER_MINUTE, trusted_proxies=[ip_network("10.0.0.0/8")])
    forwarded = [(b"x-forwarded-for", b"203.0.113.7, 10.1.1.1")]
    via_proxy = {"client": ("10.0.0.5", 4000), "headers": forwarded}
    assert limiter.client(via_proxy) == "addr:203.0.113.7"
    direct = {"client": ("198.51.100.2", 4000), "headers": forwarded}
    assert limiter.client(direct) == "addr:198.51.100.2"  # anyone else's header is ignored


def test_forgotten_clients_bound_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("runtime.api.middleware.ratelimit.MAX_TRACKED_CLIENTS", 8)
    clock = FakeClock()
    limiter = RateLimiter(TWO_PER_MINUTE, clock=clock)
    for n in range(100):
        limiter.admit(f"addr:{n}", generating=False)
    assert len(limiter._requests) <= 8
    assert limiter.admit("addr:99", generating=False) is None
    assert limiter.admit("addr:99", generating=False) is not None  # its count was kept
