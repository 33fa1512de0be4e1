"""The one boundary where HTTP failures become ladle errors.

Two kinds of failure reach here: ``httpx`` exceptions (no connection, a timeout, a TLS
failure), translated by :func:`translated`; and error responses, whose status and the
registry's error codes (the distribution spec's ``{"errors": [{"code", "message"}]}``)
choose the error type in :func:`response_error`. Everything above this module sees only
the tree in :mod:`ladle.errors`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import httpx

from ladle.errors import RegistryAuthError, RegistryError, RemoteNotFoundError

MAX_ERROR_BODY = 64 * 1024
"""Bytes of an error response read to find the registry's message."""

NOT_FOUND_CODES = frozenset({"MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN", "NOT_FOUND"})
AUTH_CODES = frozenset({"UNAUTHORIZED", "DENIED"})


@contextlib.contextmanager
def translated(host: str) -> Iterator[None]:
    """Turn an ``httpx`` failure inside the block into a :class:`RegistryError`."""
    try:
        yield
    except httpx.TimeoutException:
        raise RegistryError(host, "timed out; try again") from None
    except httpx.TransportError as exc:
        raise RegistryError(host, f"cannot connect: {_reason(exc)}") from None
    except httpx.InvalidURL as exc:
        raise RegistryError(host, f"invalid URL: {exc}") from None
    except httpx.HTTPError as exc:
        raise RegistryError(host, _reason(exc)) from None


def response_error(host: str, response: httpx.Response, what: str) -> RegistryError:
    """The error for an unexpected response to the request for ``what``; reads (a
    bounded part of) the body and closes the response."""
    codes, message = _registry_errors(response)
    status = response.status_code
    said = f" ({message})" if message else ""
    detail = f"{what}: HTTP {status}{said}"
    if status == 404 or codes & NOT_FOUND_CODES:
        return RemoteNotFoundError(host, f"{what}: not found{said}")
    if status in (401, 403) or codes & AUTH_CODES:
        return RegistryAuthError(host, f"{detail}; the credentials are missing or refused")
    return RegistryError(host, detail)


def raw_chunks(response: httpx.Response) -> Iterator[bytes]:
    """The body's bytes as sent (no content decoding), whether read already or not."""
    if response.is_stream_consumed:
        yield response.content
    else:
        yield from response.iter_raw()


def _registry_errors(response: httpx.Response) -> tuple[set[str], str]:
    body = b""
    try:
        for chunk in raw_chunks(response):
            body += chunk
            if len(body) >= MAX_ERROR_BODY:
                break
    except httpx.HTTPError:
        pass
    finally:
        response.close()
    try:
        errors = json.loads(body[:MAX_ERROR_BODY]).get("errors") or []
        codes = {str(error.get("code", "")) for error in errors}
        message = "; ".join(str(error.get("message", "")) for error in errors if error)
    except (ValueError, AttributeError, TypeError):
        return set(), ""
    return codes, _printable(message)


def _printable(text: str, limit: int = 300) -> str:
    """A registry's message, safe to print: no control characters, bounded length."""
    cleaned = "".join(char if char.isprintable() else "\ufffd" for char in text)
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + "…"


def _reason(exc: Exception) -> str:
    return _printable(str(exc) or type(exc).__name__)
