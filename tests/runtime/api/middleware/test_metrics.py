"""GET /metrics: requests by route template and status, and the runtime's own metrics."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from ladle.security_values import ApiKey
from runtime.api.middleware.metrics import get_metrics, install_metrics
from runtime.api.middleware.security import install_security
from tests.runtime.api.middleware.security_app import bearer, call, make_app, make_settings


def samples(app: FastAPI, **headers: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample ``GET /metrics`` shows, by name and labels."""
    response = call(app, "GET", "/metrics", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def requests(route: str, method: str, status: int) -> tuple[str, frozenset[tuple[str, str]]]:
    labels = {"route": route, "method": method, "status": str(status)}
    return "ladle_http_requests_total", frozenset(labels.items())


def test_requests_are_counted_by_route_template_and_status() -> None:
    app = make_app()
    for digest in ("sha256:aa", "sha256:bb"):
        assert call(app, "POST", f"/api/blobs/{digest}", content=b"x").status_code == 201
    call(app, "GET", "/api/version")
    call(app, "GET", "/no/such/path")
    call(app, "GET", "/api/delete")  # 405: the route matched all but the method
    seen = samples(app)
    assert seen[requests("/api/blobs/{digest}", "POST", 201)] == 2
    assert seen[requests("/api/version", "GET", 200)] == 1
    assert seen[requests("unmatched", "GET", 404)] == 1
    assert seen[requests("/api/delete", "GET", 405)] == 1
    assert not any("sha256" in value for _, labels in seen for _, value in labels)


def test_refusals_are_counted_under_the_route_they_were_for() -> None:
    keys = (ApiKey(secret=SecretStr("metrics-scraper-key")),)
    app = make_app(make_settings(api_keys=keys))
    assert call(app, "POST", "/api/blobs/sha256:aa").status_code == 401
    assert call(app, "GET", "/metrics").status_code == 401  # metrics need a key too
    seen = samples(app, **bearer("metrics-scraper-key"))
    assert seen[requests("/api/blobs/{digest}", "POST", 401)] == 1
    assert seen[requests("/metrics", "GET", 401)] == 1


def test_refusals_are_counted_whichever_is_installed_first() -> None:
    app = FastAPI()

    @app.get("/api/tags")
    async def tags() -> dict[str, list[str]]:
        return {"models": []}

    install_metrics(app)
    install_security(app, make_settings())
    call(app, "GET", "/api/tags", headers={"Host": "evil.example"})
    assert samples(app)[requests("/api/tags", "GET", 403)] == 1


def test_the_runtime_metrics_are_exposed() -> None:
    app = make_app()
    metrics = get_metrics(app)
    metrics.observe_tokens(prompt=12, generated=30)
    metrics.observe_tokens(prompt=8, generated=10)
    metrics.observe_ttft(0.2)
    metrics.observe_rate(42.0)
    metrics.set_queue_depth(3)
    metrics.set_loaded_models(2)
    metrics.count_runner_restart()
    seen = samples(app)
    none: frozenset[tuple[str, str]] = frozenset()
    assert seen["ladle_prompt_tokens_total", none] == 20
    assert seen["ladle_generated_tokens_total", none] == 40
    assert seen["ladle_time_to_first_token_seconds_count", none] == 1
    assert seen["ladle_time_to_first_token_seconds_bucket", frozenset({("le", "0.25")})] == 1
    assert seen["ladle_time_to_first_token_seconds_bucket", frozenset({("le", "0.1")})] == 0
    assert seen["ladle_generation_tokens_per_second_sum", none] == 42
    assert seen["ladle_queue_depth", none] == 3
    assert seen["ladle_loaded_models", none] == 2
    assert seen["ladle_runner_restarts_total", none] == 1


def test_two_apps_keep_their_own_counts() -> None:
    first, second = make_app(), make_app()
    call(first, "GET", "/api/version")
    get_metrics(first).observe_tokens(5, 5)
    seen = samples(second)
    assert requests("/api/version", "GET", 200) not in seen
    assert seen["ladle_prompt_tokens_total", frozenset()] == 0
    assert samples(first)[requests("/api/version", "GET", 200)] == 1


def test_get_metrics_needs_install_metrics() -> None:
    with pytest.raises(LookupError, match="install_metrics"):
        get_metrics(FastAPI())
