"""Prometheus metrics at ``GET /metrics``, one registry per app.

Each app gets its own :class:`~prometheus_client.CollectorRegistry`, never the
process-wide default one, so two apps in one process (tests, mainly) keep their own
counts. Requests are counted by route template (``/api/blobs/{digest}``), not by raw
URL, so a client cannot grow the number of series; paths no route matches share the
label ``unmatched``.

A client that goes away before its answer is complete (a stream it closed) is counted
with status 499, nginx's "client closed request", whatever status line was sent: its
generation was cancelled (the runner stops at its next token,
:meth:`runtime.api.service.Service` closes the runner's stream), and
``ladle_generations_active`` shows it gone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from fastapi import FastAPI
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METRICS_PATH = "/metrics"
UNMATCHED_ROUTE = "unmatched"
CLIENT_CLOSED = 499
"""The status a request is counted with when its client left before the answer ended."""

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
"""Seconds to the first token: from a warm prefix cache hit to a cold model load."""
logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from runtime.loaded import PsEntry

RATE_BUCKETS = (1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000)
"""Generated tokens per second: from a large model on CPU to a tiny one on a GPU."""


class Metrics:
    """The server's metrics, and the methods the runtime reports through."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "ladle_http_requests",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "ladle_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by route template",
            ["route"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.prompt_tokens = Counter(
            "ladle_prompt_tokens", "Prompt tokens evaluated", registry=registry
        )
        self.generated_tokens = Counter(
            "ladle_generated_tokens", "Tokens generated", registry=registry
        )
        self.time_to_first_token = Histogram(
            "ladle_time_to_first_token_seconds",
            "Seconds from a generation request's arrival to its first token",
            buckets=TTFT_BUCKETS,
            registry=registry,
        )
        self.tokens_per_second = Histogram(
            "ladle_generation_tokens_per_second",
            "Generation speed of each request, in tokens per second",
            buckets=RATE_BUCKETS,
            registry=registry,
        )
        self.queue_depth = Gauge(
            "ladle_queue_depth", "Requests waiting for a model", registry=registry
        )
        self.loaded_models = Gauge("ladle_loaded_models", "Models loaded", registry=registry)
        self.model_context = Gauge(
            "ladle_loaded_model_context_tokens",
            "Context tokens per sequence of each loaded model, with its KV cache type and "
            "whether flash attention runs (true, false, unknown)",
            ["model", "kv_cache_type", "flash_attention"],
            registry=registry,
        )
        self.kv_cache_bytes = Gauge(
            "ladle_kv_cache_bytes",
            "KV cache bytes of each loaded model, all its sequences",
            ["model"],
            registry=registry,
        )
        self.generations_active = Gauge(
            "ladle_generations_active",
            "Generations running on a runner now (a cancelled one leaves at once)",
            registry=registry,
        )
        self.prompt_cache_hits = Counter(
            "ladle_prompt_cache_hits",
            "Requests whose prompt started from a KV cache, by where it came from: the "
            "slot's own (memory), another slot's (shared) or a file saved on disk (disk)",
            ["source"],
            registry=registry,
        )
        self.prompt_cache_tokens = Counter(
            "ladle_prompt_cache_tokens_saved",
            "Prompt tokens taken from a KV cache instead of evaluated",
            registry=registry,
        )
        self.draft_tokens = Counter(
            "ladle_draft_tokens",
            "Tokens proposed by speculative decoding (a draft model or n-gram lookup)",
            registry=registry,
        )
        self.draft_accepted_tokens = Counter(
            "ladle_draft_accepted_tokens",
            "Tokens proposed by speculative decoding that the model accepted (the "
            "acceptance rate is this over ladle_draft_tokens)",
            registry=registry,
        )
        self.runner_restarts = Counter(
            "ladle_runner_restarts", "Runner processes that stopped unexpectedly", registry=registry
        )

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, method=method, status=str(status)).inc()
        self.request_duration.labels(route=route).observe(seconds)

    def observe_tokens(self, prompt: int, generated: int) -> None:
        """Count one request's prompt and generated tokens."""
        self.prompt_tokens.inc(max(0, prompt))
        self.generated_tokens.inc(max(0, generated))

    def observe_cache(self, source: str | None, tokens: int) -> None:
        """Count one request's prompt cache hit (none when ``source`` is None)."""
        if source is not None and tokens > 0:
            self.prompt_cache_hits.labels(source=source).inc()
            self.prompt_cache_tokens.inc(tokens)

    def observe_speculation(self, drafted: int, accepted: int) -> None:
        """Count one request's speculative decoding: tokens proposed and accepted."""
        self.draft_tokens.inc(max(0, drafted))
        self.draft_accepted_tokens.inc(max(0, accepted))

    def observe_ttft(self, seconds: float) -> None:
        self.time_to_first_token.observe(seconds)

    def observe_rate(self, tokens_per_s: float) -> None:
        self.tokens_per_second.observe(tokens_per_s)

    def set_queue_depth(self, n: int) -> None:
        self.queue_depth.set(n)

    def set_loaded_models(self, n: int) -> None:
        self.loaded_models.set(n)

    def set_loaded_caches(self, entries: Iterable[PsEntry]) -> None:
        """Describe the KV cache of each loaded model (the series of unloaded ones go)."""
        self.model_context.clear()
        self.kv_cache_bytes.clear()
        for entry in entries:
            flash = {True: "true", False: "false", None: "unknown"}[entry.flash_attention]
            labels = (entry.name, entry.kv_cache_type, flash)
            self.model_context.labels(*labels).set(entry.context_length)
            self.kv_cache_bytes.labels(entry.name).set(entry.kv_cache_bytes)

    def count_runner_restart(self) -> None:
        self.runner_restarts.inc()

    def generation_started(self) -> None:
        self.generations_active.inc()

    def generation_ended(self) -> None:
        self.generations_active.dec()

    def exposition(self) -> bytes:
        """Every metric in Prometheus' text format."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts every response, refusals by the security middleware included."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: list[BaseRoute]) -> None:
        self.app, self.metrics, self.routes = app, metrics, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the server answers if the app raises before responding
        started = time.perf_counter()
        complete = gone = False

        async def send_and_note(message: Message) -> None:
            nonlocal status, complete
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                complete = not message.get("more_body", False)
            await send(message)

        async def receive_and_note() -> Message:
            nonlocal gone
            message = await receive()
            gone = gone or message["type"] == "http.disconnect"
            return message

        try:
            await self.app(scope, receive_and_note, send_and_note)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope, self.routes)
            if gone and not complete:
                logger.info("%s %s: the client went away; cancelled (499)", scope["method"], route)
                status = CLIENT_CLOSED
            self.metrics.observe_request(route, scope["method"], status, seconds)


def route_template(scope: Scope, routes: list[BaseRoute]) -> str:
    """The path template of the route that served (or would have served) ``scope``."""
    if isinstance(path := getattr(scope.get("route"), "path", None), str):
        return path
    # Refused before routing (401, 429, …): the route the router would have chosen, a
    # full match first, else one that matches all but the method (the router's 405).
    matches = {Match.FULL: UNMATCHED_ROUTE, Match.PARTIAL: UNMATCHED_ROUTE}
    for route in reversed(routes):
        match, _ = route.matches(scope)
        if match in matches and isinstance(path := getattr(route, "path", None), str):
            matches[match] = path
    return matches[Match.FULL] if matches[Match.FULL] != UNMATCHED_ROUTE else matches[Match.PARTIAL]


def install_metrics(app: FastAPI) -> Metrics:
    """Give ``app`` its own :class:`Metrics`, a counting middleware (outermost) and
    ``GET /metrics``."""
    metrics = Metrics()
    app.state.ladle_metrics = metrics

    async def serve_metrics() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route(METRICS_PATH, serve_metrics, methods=["GET"], include_in_schema=False)
    if app.middleware_stack is not None:
        raise RuntimeError("install_metrics must run before the app starts")
    app.user_middleware.insert(0, Middleware(MetricsMiddleware, metrics=metrics, routes=app.routes))
    return metrics


def get_metrics(app: FastAPI) -> Metrics:
    """The metrics :func:`install_metrics` gave ``app``."""
    metrics = getattr(app.state, "ladle_metrics", None)
    if not isinstance(metrics, Metrics):
        raise LookupError("install_metrics(app) has not been called on this app")
    return metrics
