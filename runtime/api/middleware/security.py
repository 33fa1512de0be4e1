"""The HTTP API's defences, installed on the app by :func:`install_security`.

What Ollama leaves to a reverse proxy, on by default (docs/security.md). Each request
passes, outermost first:

1. the Host check: on a loopback bind, a Host header that is not a loopback name is
   refused (403), which defeats DNS rebinding (a hostile page whose name now resolves
   to 127.0.0.1 still sends its own name as Host);
2. CORS (:mod:`runtime.api.middleware.cors`): browsers only from allowed origins;
3. API keys, when any are set: a valid bearer token (or ``x-api-key`` header, as
   Anthropic's clients send it) or 401, an admin one for the routes that change the
   store or 403; ``/api/version`` stays public;
4. rate limits (:mod:`runtime.api.middleware.ratelimit`): 429 with ``Retry-After``;
5. the body size cap and read deadline (:mod:`runtime.api.middleware.limits`): 413, 408.

All of it is pure ASGI, so streamed responses pass through unbuffered.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from ipaddress import ip_address

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from ladle.errors import RequestTooLargeError
from ladle.security_values import ApiKey, ApiScope, RateLimit
from ladle.settings import DEFAULT_SHARED_RATE_LIMIT, Settings
from runtime.api.middleware.asgi import header, refuse
from runtime.api.middleware.cors import CorsMiddleware, OriginPolicy
from runtime.api.middleware.limits import BodyLimitMiddleware, check_request_size
from runtime.api.middleware.metrics import MetricsMiddleware
from runtime.api.middleware.ratelimit import (
    IDENTITY_SCOPE_KEY,
    RateLimiter,
    RateLimitMiddleware,
    get_rate_limiter,
    request_identity,
)

__all__ = [
    "RequestTooLargeError",
    "check_request_size",
    "get_rate_limiter",
    "install_security",
    "is_loopback",
    "request_identity",
]

PUBLIC_PATHS = frozenset({"/api/version"})
"""Paths served without an API key."""
ADMIN_PATHS = frozenset({"/api/create", "/api/delete", "/api/copy", "/api/pull", "/api/push"})
ADMIN_PREFIXES = ("/api/blobs/",)
"""Paths that need an ``admin`` key, whatever the method (what changes the store)."""
API_SCOPE_KEY = "ladle.api_scope"
"""The ASGI scope entry holding the request's key scope, when keys are on."""


def install_security(app: FastAPI, settings: Settings) -> None:
    """Add the Host check, CORS, API keys, rate limits and body limits to ``app``, just
    inside the metrics middleware if :func:`~runtime.api.middleware.metrics.install_metrics` ran
    first (so that refusals are counted too)."""
    security = settings.security
    limiter = RateLimiter(_rate_limit(settings), trusted_proxies=security.trusted_proxies)
    app.state.ladle_rate_limiter = limiter
    layers = [  # outermost first
        Middleware(HostCheckMiddleware, allowed=_allowed_hosts(settings)),
        Middleware(CorsMiddleware, policy=OriginPolicy(security.origins)),
        Middleware(ApiKeyMiddleware, keys=ApiKeys(security.api_keys)),
        Middleware(RateLimitMiddleware, limiter=limiter),
        Middleware(
            BodyLimitMiddleware, max_bytes=security.max_body_bytes, timeout=security.body_timeout
        ),
    ]
    if app.middleware_stack is not None:
        raise RuntimeError("install_security must run before the app starts")
    stack = app.user_middleware
    counting = [getattr(layer, "cls", None) is MetricsMiddleware for layer in stack]
    below = counting.index(True) + 1 if any(counting) else 0
    stack[below:below] = layers


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address or a Host header's name) means this machine only."""
    name = host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
    if name == "localhost":
        return True
    try:
        return ip_address(name).is_loopback
    except ValueError:
        return False


def _rate_limit(settings: Settings) -> RateLimit:
    """``LADLE_RATE_LIMIT``; unset: off on loopback, a generous default elsewhere."""
    if settings.security.rate_limit is not None:
        return settings.security.rate_limit
    return RateLimit() if is_loopback(settings.host) else DEFAULT_SHARED_RATE_LIMIT


def _allowed_hosts(settings: Settings) -> frozenset[str] | None:
    """Host names allowed besides loopback ones; ``None``: any (a public bind, no list)."""
    named = frozenset(host.strip("[]") for host in settings.security.allowed_hosts)
    return named if named or is_loopback(settings.host) else None


def _host_name(value: str) -> str:
    """``localhost`` of ``localhost:11434``, ``::1`` of ``[::1]:11434``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.partition(":")[0].rstrip(".")


class HostCheckMiddleware:
    """403 for a Host header that is neither a loopback name nor in ``allowed``."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str] | None) -> None:
        self.app, self.allowed = app, allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.allowed is not None:
            name = _host_name(header(scope, b"host") or "")
            if not (is_loopback(name) or name in self.allowed):
                message = (
                    f"host {name[:100]!r} is not allowed: ladle answers to loopback names "
                    "here; LADLE_ALLOWED_HOSTS names others"
                )
                await refuse(scope, send, 403, message, code="host_not_allowed")
                return
        await self.app(scope, receive, send)


class ApiKeys:
    """The keys the server accepts, kept as SHA-256 digests and compared in constant time."""

    def __init__(self, keys: Iterable[ApiKey]) -> None:
        self._keys = [(_digest(key.secret.get_secret_value()), key.scope) for key in keys]

    def __bool__(self) -> bool:
        return bool(self._keys)

    def scope_of(self, presented: str) -> ApiScope | None:
        """The scope of the key ``presented``, ``None`` if it is none of them.

        Equal-length digests compared by :func:`hmac.compare_digest`, every key every
        time, so that neither the key's length nor which key matched shows in the timing.
        """
        digest = _digest(presented)
        found: ApiScope | None = None
        for known, scope in self._keys:
            if hmac.compare_digest(digest, known) and found is None:
                found = scope
        return found


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("latin-1", "replace")).digest()


def _bearer(scope: Scope) -> str:
    """The token of ``Authorization: Bearer <token>``, or ``""``."""
    kind, _, token = (header(scope, b"authorization") or "").strip().partition(" ")
    return token.strip() if kind.lower() == "bearer" else ""


def _presented(scope: Scope, keys: ApiKeys) -> tuple[str, ApiScope | None]:
    """The key a request presents and its scope (``None``: not a key): the bearer token,
    or else ``x-api-key``, the header Anthropic's clients send their key in."""
    token = _bearer(scope)
    key_scope = keys.scope_of(token)
    if key_scope is None:
        token = (header(scope, b"x-api-key") or "").strip()
        key_scope = keys.scope_of(token)
    return token, key_scope


def needs_admin(path: str) -> bool:
    """Whether ``path`` changes the store (create, delete, copy, pull, push, blobs)."""
    return path.rstrip("/") in ADMIN_PATHS or path.startswith(ADMIN_PREFIXES)


class ApiKeyMiddleware:
    """With keys set: 401 without a valid one (and nothing else), 403 for a user key on
    an admin route. Without keys: every request passes."""

    def __init__(self, app: ASGIApp, keys: ApiKeys) -> None:
        self.app, self.keys = app, keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not self.keys or path.rstrip("/") in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        token, key_scope = _presented(scope, self.keys)
        if key_scope is None:
            message = "a valid API key is required (Authorization: Bearer <key>)"
            challenge = [(b"www-authenticate", b"Bearer")]
            await refuse(scope, send, 401, message, code="invalid_api_key", headers=challenge)
            return
        if needs_admin(path) and key_scope != "admin":
            message = "this route changes the model store and needs an admin API key"
            await refuse(scope, send, 403, message, code="insufficient_scope")
            return
        scope[IDENTITY_SCOPE_KEY] = "key:" + _digest(token).hex()[:16]
        scope[API_SCOPE_KEY] = key_scope
        await self.app(scope, receive, send)
