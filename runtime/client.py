"""The HTTP client of a ladle server: what ``ladle run``, ``ladle ps``, ``ladle stop``
(and later the TUI) use, and nothing else does.

:class:`LadleClient` speaks Ollama's ``/api``. Streamed answers are read line by line
(NDJSON) and yielded as they come. Errors are translated here, once: a server that does
not answer is :class:`~ladle.errors.ServerUnreachableError` (which says to start one), an
``{"error": …}`` answer, whole or in the middle of a stream, is
:class:`~ladle.errors.ServerError` with the server's message and status.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import httpx

from ladle.errors import ServerError, ServerUnreachableError

CONNECT_TIMEOUT_S = 5.0
"""How long to wait for the server to accept a connection; answers may take minutes."""

Json = dict[str, Any]


class LadleClient:
    """A client of the ladle server at ``url`` (``Settings.url``: from ``LADLE_HOST``)."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        timeout = httpx.Timeout(None, connect=CONNECT_TIMEOUT_S)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self.url, timeout=timeout, transport=transport, headers=headers
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- requests ----------------------------------------------------------

    def generate(
        self,
        model: str,
        prompt: str,
        *,
        options: Mapping[str, Any] | None = None,
        keep_alive: str | float | None = None,
    ) -> Iterator[Json]:
        """Stream ``/api/generate``'s pieces (the last has ``done``)."""
        body = _body(model=model, prompt=prompt, options=options, keep_alive=keep_alive)
        return self._stream("/api/generate", body)

    def chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        format: str | Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        keep_alive: str | float | None = None,
        think: bool | str | None = None,
    ) -> Iterator[Json]:
        """Stream ``/api/chat``'s pieces (the last has ``done``); ``format`` holds the
        answer to Ollama's ``"json"`` or to a JSON schema (the chat's ``/set format``),
        ``think`` is Ollama's (the chat's ``/set think``)."""
        body = _body(
            model=model,
            messages=list(messages),
            tools=list(tools) if tools else None,
            format=format,
            options=options,
            keep_alive=keep_alive,
            think=think,
        )
        return self._stream("/api/chat", body)

    def ps(self) -> list[Json]:
        """The loaded models (``/api/ps``)."""
        models: list[Json] = self._call("GET", "/api/ps")["models"]
        return models

    def tags(self) -> list[Json]:
        """The models in the server's store (``/api/tags``)."""
        models: list[Json] = self._call("GET", "/api/tags")["models"]
        return models

    def show(self, model: str) -> Json:
        return self._call("POST", "/api/show", {"model": model})

    def create(self, model: str, request: Mapping[str, Any]) -> Iterator[Json]:
        """Stream ``/api/create``'s status lines for ``model`` built from ``request``
        (Ollama's JSON form: ``from``, ``files``, ``adapters``, ``template``, ``system``,
        ``parameters``, ``messages``, ``license``, ``quantize``)."""
        return self._stream("/api/create", {**request, "model": model})

    def version(self) -> str:
        return str(self._call("GET", "/api/version")["version"])

    def stop(self, model: str) -> None:
        """Unload ``model`` now: a generate with no prompt and ``keep_alive`` 0."""
        self._call("POST", "/api/generate", {"model": model, "keep_alive": 0, "stream": False})

    # -- plumbing ----------------------------------------------------------

    def _call(self, method: str, path: str, body: Json | None = None) -> Json:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.TransportError as error:
            raise self._unreachable(error) from None
        if response.status_code >= 400:
            raise _server_error(response)
        value: Json = response.json() if response.content else {}
        return value

    def _stream(self, path: str, body: Json) -> Iterator[Json]:
        try:
            with self._http.stream("POST", path, json={**body, "stream": True}) as response:
                if response.status_code >= 400:
                    response.read()  # a streamed answer's body is read on demand
                    raise _server_error(response)
                for line in response.iter_lines():
                    if not line.strip():
                        continue
                    piece: Json = json.loads(line)
                    if "error" in piece:
                        raise ServerError(response.status_code, str(piece["error"]))
                    yield piece
        except httpx.TransportError as error:
            raise self._unreachable(error) from None

    def _unreachable(self, error: httpx.TransportError) -> Exception:
        if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
            return ServerUnreachableError(self.url)
        return ServerError(0, f"the connection to ladle at {self.url} failed: {error}")

    # -- blobs (ladle create --host) -----------------------------------------

    def has_blob(self, digest: str) -> bool:
        """Whether the server's store holds the blob ``digest`` (``HEAD /api/blobs``)."""
        try:
            response = self._http.head(f"/api/blobs/{digest}")
        except httpx.TransportError as error:
            raise self._unreachable(error) from None
        if response.status_code not in (200, 404):
            raise _server_error(response)
        return response.status_code == 200

    def push_blob(self, digest: str, chunks: Iterable[bytes], size: int) -> None:
        """Upload ``size`` bytes, streamed from ``chunks``, as the blob ``digest``; the
        server keeps them only if they hash to it (``POST /api/blobs``)."""
        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        try:
            response = self._http.post(f"/api/blobs/{digest}", content=chunks, headers=headers)
        except httpx.TransportError as error:
            raise self._unreachable(error) from None
        if response.status_code >= 400:
            raise _server_error(response)


def _body(**fields: Any) -> Json:
    return {key: value for key, value in fields.items() if value is not None}


def _server_error(response: httpx.Response) -> ServerError:
    """The error an answer of status 400 or more stands for: the server's ``error``
    message, and its ``Retry-After`` (seconds) when it says when to try again."""
    status, text = response.status_code, response.text
    try:
        message = str(json.loads(text)["error"])
    except (ValueError, KeyError, TypeError):
        message = text.strip() or f"HTTP {status}"
    return ServerError(status, message, _retry_after(response.headers.get("Retry-After")))


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds; ladle sends seconds, and an HTTP date is ignored."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds <= 3600 else None
