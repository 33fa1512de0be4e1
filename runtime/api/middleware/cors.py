"""CORS with an allow-list: browsers may call the API only from the origins named.

``*`` and ``null`` are never allowed (the settings refuse them). A request whose
``Origin`` is not on the list is refused outright with 403 instead of being served
without CORS headers: a "simple" cross-site POST still reaches the server, and hiding
the answer from the page would not undo what the request did.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.api.middleware.asgi import Headers, header, refuse

ALLOWED_METHODS = b"GET, POST, PUT, DELETE, HEAD, OPTIONS"
MAX_AGE_S = 600
"""How long a browser may cache a preflight answer."""
EXPOSED_HEADERS = b"Retry-After"
"""Response headers a page may read besides the CORS-safelisted ones."""

_PORT = re.compile(r":(\d{1,5})$")


class OriginPolicy:
    """Whether an ``Origin`` header value is on the allow-list.

    An entry is ``scheme://host`` (default port only), ``scheme://host:port`` or
    ``scheme://host:*`` (any port, or none).
    """

    def __init__(self, origins: Iterable[str]) -> None:
        entries = [origin.lower().rstrip("/") for origin in origins]
        self._exact = frozenset(entry for entry in entries if not entry.endswith(":*"))
        self._any_port = frozenset(entry[:-2] for entry in entries if entry.endswith(":*"))

    def allows(self, origin: str) -> bool:
        origin = origin.strip().lower()
        if origin in self._exact or origin in self._any_port:
            return True
        return _PORT.sub("", origin) in self._any_port


class CorsMiddleware:
    """Answers preflights, adds CORS headers for allowed origins, refuses the others."""

    def __init__(self, app: ASGIApp, policy: OriginPolicy) -> None:
        self.app, self.policy = app, policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = header(scope, b"origin") if scope["type"] == "http" else None
        if origin is None:
            await self.app(scope, receive, send)
            return
        if not self.policy.allows(origin):
            message = f"origin {origin[:100]!r} is not allowed; add it to LADLE_ORIGINS"
            await refuse(scope, send, 403, message, code="origin_not_allowed")
            return
        allow: Headers = [(b"access-control-allow-origin", origin.encode("latin-1"))]
        if scope["method"] == "OPTIONS" and header(scope, b"access-control-request-method"):
            await _preflight(scope, send, allow)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"vary", b"Origin"), (b"access-control-expose-headers", EXPOSED_HEADERS)]
                message = {**message, "headers": [*message.get("headers", ()), *allow, *extra]}
            await send(message)

        await self.app(scope, receive, send_with_cors)


async def _preflight(scope: Scope, send: Send, allow: Headers) -> None:
    """204 naming the methods, echoing the headers asked for (the origin is trusted)."""
    asked = header(scope, b"access-control-request-headers")
    headers = [
        *allow,
        (b"access-control-allow-methods", ALLOWED_METHODS),
        (b"access-control-max-age", str(MAX_AGE_S).encode()),
        (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
    ]
    if asked:
        headers.append((b"access-control-allow-headers", asked.encode("latin-1")))
    if header(scope, b"access-control-request-private-network") == "true":
        # Chrome's Private Network Access: a public page calling a local server asks first.
        headers.append((b"access-control-allow-private-network", b"true"))
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
