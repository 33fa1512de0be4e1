"""An httpx transport over ``http.client``, for registries reached without a proxy.

httpx's own transport parses every response body through h11, 64 KB at a time; for a
multi-GB blob that parsing, not the network, sets the pace (on a loopback registry it
pulled at 40% of curl's speed). This transport sends and receives with ``http.client``,
and offers each response body's ``readinto`` in the response's extensions
(:data:`READINTO`), so that a download reads straight from the socket into the store's
buffers. Everything else — authentication, redirects, limits — stays in
:class:`~builder.registry.client.RegistryClient`, which sees ordinary httpx responses.

One kept-alive connection per origin is pooled; a connection whose response was not read
to the end is closed rather than reused. Failures are raised as httpx's exceptions, so
that :mod:`builder.registry.errors` translates them like any other.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import typing
from collections.abc import Callable, Iterator

import httpx

READINTO = "ladle.readinto"
"""The response extension holding the body's ``readinto(buffer) -> int``."""

DRAIN_BYTES = 64 * 1024
"""A body left unread up to this size is read off, so that its connection can be reused."""

Origin = tuple[str, str, int]


class DirectTransport(httpx.BaseTransport):
    """HTTP/1.1 with ``http.client``: no proxy, TLS as httpx configures it."""

    def __init__(self, connect_timeout: float, read_timeout: float) -> None:
        self._connect_timeout, self._read_timeout = connect_timeout, read_timeout
        self._ssl: ssl.SSLContext | None = None
        self._idle: dict[Origin, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        connection, reused = self._connection(origin)
        try:
            response = self._exchange(connection, request)
        except (ConnectionError, http.client.RemoteDisconnected) as exc:
            connection.close()
            if not reused or "content-length" in request.headers:
                raise _translated(exc, request) from exc
            # The registry closed the kept-alive connection: once more on a new one.
            connection, _ = self._connection(origin, fresh=True)
            response = self._exchange(connection, request)
        body = _Body(response, lambda: self._release(origin, connection, response), request)
        return httpx.Response(
            response.status,
            headers=response.getheaders(),
            stream=body,
            request=request,
            extensions={"http_version": b"HTTP/1.1", READINTO: body.readinto},
        )

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def _exchange(
        self, connection: http.client.HTTPConnection, request: httpx.Request
    ) -> http.client.HTTPResponse:
        try:
            if connection.sock is None:
                connection.connect()
                typing.cast(socket.socket, connection.sock).settimeout(self._read_timeout)
            _send(connection, request)
            return connection.getresponse()
        except (ConnectionError, http.client.RemoteDisconnected):
            raise
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise _translated(exc, request) from exc

    def _connection(
        self, origin: Origin, fresh: bool = False
    ) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            pooled = self._idle.get(origin)
            if pooled and not fresh:
                return pooled.pop(), True
        scheme, host, port = origin
        if scheme == "https":
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, timeout=self._connect_timeout, context=self._ssl
            )
        else:
            connection = http.client.HTTPConnection(host, port, timeout=self._connect_timeout)
        return connection, False

    def _release(
        self,
        origin: Origin,
        connection: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
    ) -> None:
        if response.isclosed() and not response.will_close:
            with self._lock:
                self._idle.setdefault(origin, []).append(connection)
        else:  # not read to the end: the rest of the body is still on the wire
            connection.close()


class _Body(httpx.SyncByteStream):
    """A response body, readable as chunks (httpx) or with ``readinto`` (downloads)."""

    def __init__(
        self,
        response: http.client.HTTPResponse,
        release: Callable[[], None],
        request: httpx.Request,
    ) -> None:
        self._response = response
        self._release = release
        self._request = request
        self._closed = False

    def readinto(self, buffer: memoryview, /) -> int:
        try:
            return self._response.readinto(buffer)
        except (OSError, http.client.HTTPException) as exc:
            raise _translated(exc, self._request) from exc

    def __iter__(self) -> Iterator[bytes]:
        buffer = memoryview(bytearray(64 * 1024))
        while count := self.readinto(buffer):
            yield bytes(buffer[:count])

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        length = self._response.length
        if not self._response.isclosed() and length is not None and length <= DRAIN_BYTES:
            with contextlib.suppress(OSError, http.client.HTTPException):
                self._response.read()  # a small rest (an error, a redirect): keep the connection
        self._release()


def _send(connection: http.client.HTTPConnection, request: httpx.Request) -> None:
    url = request.url
    target = url.raw_path.decode("ascii")
    connection.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
    for key, value in request.headers.raw:  # as httpx spells them
        connection.putheader(key.decode("latin-1"), value.decode("latin-1"))
    connection.endheaders()
    chunked = request.headers.get("transfer-encoding", "").lower() == "chunked"
    for chunk in request.stream:  # type: ignore[union-attr]
        if chunked:
            connection.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        elif chunk:
            connection.send(chunk)
    if chunked:
        connection.send(b"0\r\n\r\n")


def _translated(exc: Exception, request: httpx.Request) -> httpx.HTTPError:
    if isinstance(exc, socket.timeout):
        return httpx.ReadTimeout(str(exc) or "timed out", request=request)
    if isinstance(exc, http.client.HTTPException):
        return httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request)
    return httpx.ConnectError(str(exc) or type(exc).__name__, request=request)
