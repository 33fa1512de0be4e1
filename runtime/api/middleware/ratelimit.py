"""Rate limits per client: requests and generated tokens, each a token bucket.

A client is its API key when keys are on (the key's fingerprint, never the key), else
its address; behind a proxy named in ``LADLE_TRUSTED_PROXIES`` the address is the one
the proxy puts in ``X-Forwarded-For``. Requests are counted here, before the app runs;
generated tokens are charged by the service once it knows them
(:meth:`RateLimiter.charge_tokens`), and a client in token debt may not start another
generation until the bucket refills.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from ladle.security_values import Quota, RateLimit
from runtime.api.middleware.asgi import header, refuse

IDENTITY_SCOPE_KEY = "ladle.identity"
"""The ASGI scope entry naming the client that limits count against."""

GENERATING_PATHS = frozenset(
    {
        "/api/generate",
        "/api/chat",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/messages",
        "/v1/responses",
    }
)
"""Routes refused while a client owes generated tokens."""

MAX_TRACKED_CLIENTS = 10_000
"""Buckets kept before full ones (the same as new) are dropped to bound memory."""

Clock = Callable[[], float]


@dataclass
class TokenBucket:
    """``quota.amount`` tokens at most, refilled at ``amount / seconds`` per second."""

    quota: Quota
    level: float
    updated: float

    def refill(self, now: float) -> float:
        rate = self.quota.amount / self.quota.seconds
        self.level = min(self.quota.amount, self.level + (now - self.updated) * rate)
        self.updated = now
        return self.level

    def wait(self, now: float) -> float:
        """Seconds until one token is there (0: one is there now)."""
        missing = 1.0 - self.refill(now)
        return max(0.0, missing * self.quota.seconds / self.quota.amount)


class RateLimiter:
    """Buckets per client for one :class:`~ladle.security_values.RateLimit`."""

    def __init__(
        self,
        limit: RateLimit,
        *,
        trusted_proxies: Iterable[IPv4Network | IPv6Network] = (),
        clock: Clock = time.monotonic,
    ) -> None:
        self.limit, self.trusted_proxies = limit, tuple(trusted_proxies)
        self._clock = clock
        self._requests: dict[str, TokenBucket] = {}
        self._tokens: dict[str, TokenBucket] = {}

    @property
    def enabled(self) -> bool:
        return self.limit.requests is not None or self.limit.tokens is not None

    def admit(self, identity: str, *, generating: bool) -> tuple[str, float] | None:
        """Take one request from ``identity``'s bucket; ``("requests" or "tokens", seconds
        to wait)`` when it may not start now."""
        now = self._clock()
        tokens = self._bucket(self._tokens, self.limit.tokens, identity, now)
        if generating and tokens is not None and (wait := tokens.wait(now)) > 0:
            return "tokens", wait
        requests = self._bucket(self._requests, self.limit.requests, identity, now)
        if requests is None:
            return None
        if (wait := requests.wait(now)) > 0:
            return "requests", wait
        requests.level -= 1
        return None

    def charge_tokens(self, identity: str, n: int) -> None:
        """Charge ``n`` generated tokens to ``identity`` (the bucket may go into debt)."""
        now = self._clock()
        bucket = self._bucket(self._tokens, self.limit.tokens, identity, now)
        if bucket is not None and n > 0:
            bucket.level = bucket.refill(now) - n

    def client(self, scope: Scope) -> str:
        """The identity limits count against: the API key's, else the client address."""
        identity = scope.get(IDENTITY_SCOPE_KEY)
        if isinstance(identity, str):
            return identity
        return f"addr:{self._address(scope)}"

    def _address(self, scope: Scope) -> str:
        peer = str((scope.get("client") or ("unknown", 0))[0])
        forwarded = header(scope, b"x-forwarded-for")
        if forwarded is None or not self._trusted(peer):
            return peer
        # The right-most address a trusted proxy did not add is the client's own.
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        untrusted = [hop for hop in hops if not self._trusted(hop)]
        return untrusted[-1] if untrusted else (hops[0] if hops else peer)

    def _trusted(self, address: str) -> bool:
        try:
            ip = ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted_proxies)

    def _bucket(
        self, buckets: dict[str, TokenBucket], quota: Quota | None, identity: str, now: float
    ) -> TokenBucket | None:
        if quota is None:
            return None
        bucket = buckets.get(identity)
        if bucket is None:
            if len(buckets) >= MAX_TRACKED_CLIENTS:
                _drop_full(buckets, now)
            bucket = buckets[identity] = TokenBucket(quota, quota.amount, now)
        return bucket


def _drop_full(buckets: dict[str, TokenBucket], now: float) -> None:
    """Forget clients whose bucket has refilled (a fresh one would be the same), then, if
    that freed too little, the longest-known ones, so that each scan is paid for by many
    inserts."""
    full = {key for key, bucket in buckets.items() if bucket.refill(now) >= bucket.quota.amount}
    left = [key for key in buckets if key not in full]
    if len(left) > MAX_TRACKED_CLIENTS * 3 // 4:
        full.update(left[: len(left) - MAX_TRACKED_CLIENTS // 2])
    for identity in full:
        del buckets[identity]


class RateLimitMiddleware:
    """Refuses a client over its request rate (or in token debt) with 429 and Retry-After."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app, self.limiter = app, limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limiter.enabled:
            await self.app(scope, receive, send)
            return
        identity = scope[IDENTITY_SCOPE_KEY] = self.limiter.client(scope)
        path = scope["path"].rstrip("/")
        refused = self.limiter.admit(identity, generating=path in GENERATING_PATHS)
        if refused is None:
            await self.app(scope, receive, send)
            return
        kind, wait = refused
        seconds = max(1, math.ceil(wait))
        message = f"rate limit exceeded ({_describe(self.limiter.limit, kind)}, LADLE_RATE_LIMIT)"
        await refuse(
            scope,
            send,
            429,
            f"{message}; try again in {seconds} s",
            code="rate_limit_exceeded",
            kind=kind,
            headers=[(b"retry-after", str(seconds).encode())],
        )


def _describe(limit: RateLimit, kind: str) -> str:
    quota = limit.tokens if kind == "tokens" else limit.requests
    if quota is None:
        return kind
    what = "generated tokens" if kind == "tokens" else "requests"
    return f"{quota.amount:g} {what} per {quota.seconds:g} s"


def get_rate_limiter(app: FastAPI) -> RateLimiter:
    """The app's limiter, for the service to charge generated tokens to."""
    limiter = getattr(app.state, "ladle_rate_limiter", None)
    if not isinstance(limiter, RateLimiter):
        raise LookupError("install_security(app, settings) has not been called on this app")
    return limiter


def request_identity(request: Request) -> str:
    """The identity a request's tokens are charged to (see :meth:`RateLimiter.client`)."""
    return get_rate_limiter(request.app).client(request.scope)
