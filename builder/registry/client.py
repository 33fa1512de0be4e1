"""HTTP to one registry (the OCI distribution API, ``/v2/…``), and its safety rules.

* **Scheme.** HTTPS, except for a loopback host (``localhost``, ``127.0.0.1``) or one the
  user calls insecure (``--insecure``, ``LADLE_INSECURE_REGISTRIES``): plain HTTP.
* **Authentication.** A ``401`` is answered once per request (see
  :mod:`builder.registry.auth`); Bearer tokens are kept per scope for the client's life.
* **Redirects** are followed by hand, at most :data:`MAX_REDIRECTS`, and only for
  downloads (GET, HEAD). Within the registry's origin anything goes. To another host
  (a CDN, as Ollama's registry redirects its blobs) only a request that carries no
  credentials is followed: one that does is refused rather than stripped, since a
  registry that hands a logged-in user's download to a third party is not one to trust.
  A redirect to a URL with credentials in it, or from HTTPS to plain HTTP, is refused.
* **Upload locations** the registry gives must be on its own origin.
* **Sizes.** Manifests and token responses are read up to a limit, and bodies are read
  raw (``Accept-Encoding: identity``), so that digests are of the bytes sent.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from builder.registry.auth import Challenge, Credentials, check_realm, host_name
from builder.registry.errors import raw_chunks, response_error, translated
from builder.registry.transport import READINTO, DirectTransport
from builder.store import media_types
from builder.store.hashing import CHUNK
from ladle.errors import RegistryAuthError, RegistryError, UntrustedRegistryError
from ladle.versions import __version__

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
"""The distribution registry's own limit on a manifest's size."""

MAX_TOKEN_BYTES = 1024 * 1024
MAX_REDIRECTS = 5
TIMEOUT = httpx.Timeout(30.0, read=300.0)
"""Seconds to connect, and to wait for the next bytes of a response."""

MANIFEST_ACCEPT = ", ".join(
    (
        media_types.MANIFEST,
        media_types.OCI_MANIFEST,
        media_types.MANIFEST_LIST,
        media_types.OCI_INDEX,
    )
)
"""Everything a tag may point at, so that an index is recognised and named, not mangled."""

Body = bytes | Callable[[], Iterator[bytes]] | None
"""A request body: bytes, or a factory of chunks (called again if the request is retried)."""
Sent = Callable[[int], None]
"""Called with the number of bytes just sent or received."""


class RegistryClient:
    """A connection to the registry at ``host`` (``localhost:5000``, ``registry.ollama.ai``)."""

    def __init__(
        self,
        host: str,
        credentials: Credentials | None = None,
        *,
        insecure: bool = False,
        proxy: bool = False,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.host = host
        self.allow_http = insecure or is_loopback(host)
        self.base = httpx.URL(f"{'http' if self.allow_http else 'https'}://{host}/")
        self._credentials = credentials
        self._basic = False
        self._tokens: dict[tuple[str, ...], str] = {}
        proxied = proxy and not is_loopback(host)  # no proxy between ladle and a local registry
        if transport is None and not proxied:
            transport = DirectTransport(TIMEOUT.connect or 30.0, TIMEOUT.read or 300.0)
        self._http = httpx.Client(
            transport=transport,
            timeout=TIMEOUT,
            follow_redirects=False,
            trust_env=proxied,
            headers={"User-Agent": f"ladle/{__version__}", "Accept-Encoding": "identity"},
        )

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def url(self, path: str) -> httpx.URL:
        return self.base.join(path)

    @contextlib.contextmanager
    def request(
        self,
        method: str,
        url: httpx.URL,
        scopes: tuple[str, ...],
        headers: dict[str, str] | None = None,
        body: Body = None,
    ) -> Iterator[httpx.Response]:
        """Send a request (authenticating when challenged) and yield the streamed response;
        HTTP failures inside the block become ``RegistryError``."""
        with translated(self.host):
            response = self._send(method, url, scopes, headers or {}, body)
            try:
                yield response
            finally:
                response.close()

    def ping(self) -> None:
        """Check that the registry answers ``/v2/``, with the credentials if it asks."""
        with self.request("GET", self.url("v2/"), ()) as response:
            if response.status_code != 200:
                raise response_error(self.host, response, "the API check (/v2/)")

    def read_limited(self, response: httpx.Response, limit: int, what: str) -> bytes:
        """The body, refused (without reading the rest) once it passes ``limit`` bytes."""
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            raise UntrustedRegistryError(
                self.host, f"{what} is {length} bytes; the limit is {limit}"
            )
        data = bytearray()
        for chunk in raw_chunks(response):
            data += chunk
            if len(data) > limit:
                raise UntrustedRegistryError(
                    self.host, f"{what} is over the limit of {limit} bytes"
                )
        return bytes(data)

    def check_origin(self, url: httpx.URL, what: str) -> httpx.URL:
        """``url`` itself when it is on the registry's origin."""
        if not _same_origin(url, self.base) or url.userinfo:
            raise UntrustedRegistryError(self.host, f"it gave {what} on another host: {url.host}")
        return url

    # -- sending -------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: httpx.URL,
        scopes: tuple[str, ...],
        headers: dict[str, str],
        body: Body,
    ) -> httpx.Response:
        for attempt in (1, 2):
            content = body() if callable(body) else body
            request = self._http.build_request(
                method, url, headers={**self._authorization(scopes), **headers}, content=content
            )
            response = self._follow(request)
            if response.status_code != 401:
                return response
            if attempt == 2:  # answered the challenge, and still refused
                response.close()
                raise self._refused()
            challenge = Challenge.parse(response.headers.get("www-authenticate", ""))
            response.close()
            self._answer(challenge, scopes)
        raise AssertionError("unreachable")

    def _authorization(self, scopes: tuple[str, ...]) -> dict[str, str]:
        token = self._tokens.get(scopes)
        if token is not None:
            return {"Authorization": f"Bearer {token}"}
        if self._basic and self._credentials is not None:
            return {"Authorization": self._credentials.basic()}
        return {}

    def _answer(self, challenge: Challenge, scopes: tuple[str, ...]) -> None:
        """Get what the challenge asks for, or raise ``RegistryAuthError`` saying why not."""
        if challenge.scheme == "basic":
            if self._credentials is None:
                raise RegistryAuthError(
                    self.host, "it asks for credentials, and none are saved for it"
                )
            if self._basic:
                raise self._refused()
            self._basic = True
        elif challenge.scheme == "bearer":
            realm = check_realm(challenge.params.get("realm", ""), self.host, self.allow_http)
            wanted = [*challenge.params.get("scope", "").split(), *scopes]
            service = challenge.params.get("service")
            self._tokens[scopes] = self._token(realm, service, tuple(dict.fromkeys(wanted)))
        else:
            raise RegistryAuthError(
                self.host,
                f"it asks for {challenge.scheme or 'an unknown'} authentication, "
                "which ladle does not speak (Basic and Bearer only)",
            )

    def _token(self, realm: httpx.URL, service: str | None, scopes: tuple[str, ...]) -> str:
        params = httpx.QueryParams([("service", service)] if service else [])
        for scope in scopes:
            params = params.add("scope", scope)
        headers = {"Authorization": self._credentials.basic()} if self._credentials else {}
        request = self._http.build_request("GET", realm, params=params, headers=headers)
        response = self._http.send(request, stream=True)  # a token service is not redirected
        try:
            if response.status_code in (401, 403):
                raise self._refused()
            if response.status_code != 200:
                raise response_error(self.host, response, "token request")
            data = self.read_limited(response, MAX_TOKEN_BYTES, "the token response")
        finally:
            response.close()
        try:
            document = json.loads(data)
            token = document.get("token") or document.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token.isprintable() or not token:
            raise UntrustedRegistryError(self.host, "its token service sent no usable token")
        return token

    def _refused(self) -> RegistryAuthError:
        if self._credentials is None:
            return RegistryAuthError(self.host, "anonymous access was refused")
        return RegistryAuthError(
            self.host,
            f"it refused the credentials of {self._credentials.username!r} "
            f"(from {self._credentials.source or 'the command line'})",
        )

    def _follow(self, request: httpx.Request) -> httpx.Response:
        for _ in range(MAX_REDIRECTS + 1):
            response = self._http.send(request, stream=True)
            if not response.has_redirect_location:
                return response
            target = request.url.join(response.headers["location"])
            response.close()
            self._check_redirect(request, target)
            headers = {
                key: value
                for key, value in request.headers.items()
                if key.lower() not in ("host", "content-length")
            }
            request = self._http.build_request(request.method, target, headers=headers)
        raise RegistryError(self.host, f"more than {MAX_REDIRECTS} redirects")

    def _check_redirect(self, request: httpx.Request, target: httpx.URL) -> None:
        if request.method not in ("GET", "HEAD"):
            raise RegistryError(
                self.host, f"it redirected a {request.method} request; ladle follows only downloads"
            )
        if target.userinfo:
            raise UntrustedRegistryError(self.host, "it redirected to a URL with credentials in it")
        if target.scheme != "https" and not (target.scheme == "http" and self.allow_http):
            raise UntrustedRegistryError(
                self.host, f"it redirected to a plain-HTTP URL on {target.host}"
            )
        if not _same_origin(target, request.url) and "authorization" in request.headers:
            raise UntrustedRegistryError(
                self.host,
                f"it redirected a request that carries your credentials to another host "
                f"({target.host}); refusing to follow it",
            )


class BodyReader:
    """A streamed response body, read with ``readinto`` (what the store copies from).

    Buffers are filled as far as the stream allows, so that the store writes and hashes
    large chunks whatever sizes the network delivers. A body from :class:`DirectTransport`
    is read straight from its socket.
    """

    def __init__(self, response: httpx.Response) -> None:
        self._direct = response.extensions.get(READINTO)
        self._chunks = raw_chunks(response)
        self._left = memoryview(b"")

    def readinto(self, buffer: memoryview, /) -> int:
        if self._direct is not None:
            count: int = self._direct(buffer)
            return count
        filled = 0
        while filled < len(buffer):
            if not self._left:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._left = memoryview(chunk)
            count = min(len(self._left), len(buffer) - filled)
            buffer[filled : filled + count] = self._left[:count]
            self._left = self._left[count:]
            filled += count
        return filled


def file_chunks(path: Path, start: int, length: int, sent: Sent | None) -> Iterator[bytes]:
    """``length`` bytes of ``path`` from ``start``, in chunks, as a request body."""
    with path.open("rb") as handle:
        handle.seek(start)
        remaining = length
        while remaining:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                raise RegistryError(str(path), "the blob file became shorter while it was sent")
            remaining -= len(chunk)
            if sent is not None:
                sent(len(chunk))
            yield chunk


def is_loopback(host: str) -> bool:
    """Whether ``host`` (with or without a port) is this machine."""
    name = host_name(host)
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _same_origin(first: httpx.URL, second: httpx.URL) -> bool:
    return (first.scheme, first.host.lower(), first.port) == (
        second.scheme,
        second.host.lower(),
        second.port,
    )
