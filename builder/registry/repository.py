"""The distribution API's endpoints for one repository (``/v2/<namespace>/<model>/…``).

Quoted from the OCI distribution spec where it decides what the code does:

* pulling: "The client SHOULD include an ``Accept`` header indicating which manifest
  content types it supports", and "A registry SHOULD return a ``Docker-Content-Digest``
  header" whose value the client checks against the bytes it got;
* resuming: a blob GET may carry ``Range: bytes=<start>-``; a registry that honours it
  answers ``206`` with ``Content-Range``, one that does not answers ``200`` with the
  whole blob (and the download starts over);
* pushing: "POST then PUT" (monolithic) or "POST, PATCH…, PUT" (chunked: each PATCH has
  ``Content-Range: <start>-<end>``, inclusive, and the registry's ``202`` gives the next
  ``Location``); the closing PUT carries ``?digest=``;
* mounting: "POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<other_name>" answers
  ``201`` when the blob was mounted, ``202`` with an upload location when it was not.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from builder.registry.client import (
    MANIFEST_ACCEPT,
    MAX_MANIFEST_BYTES,
    Body,
    BodyReader,
    RegistryClient,
    Sent,
    file_chunks,
)
from builder.registry.errors import response_error
from builder.store import media_types
from builder.store.hashing import Readable
from builder.store.manifest import digest_of
from builder.store.names import ModelName
from ladle.errors import UntrustedRegistryError

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
OCTET_STREAM = "application/octet-stream"


@dataclass(frozen=True)
class FetchedManifest:
    """A manifest's bytes as the registry sent them, and its media type."""

    data: bytes
    media_type: str
    digest: str


class Repository:
    """One model's repository on a registry: ``namespace/model`` (lower-case)."""

    def __init__(self, client: RegistryClient, name: ModelName) -> None:
        self.client = client
        self.name = name
        _, namespace, model, self.tag = name.key()
        self.path = f"{namespace}/{model}"

    def pull_scope(self) -> tuple[str, ...]:
        return (f"repository:{self.path}:pull",)

    def push_scope(self, mount_from: str | None = None) -> tuple[str, ...]:
        extra = (f"repository:{mount_from}:pull",) if mount_from else ()
        return (f"repository:{self.path}:pull,push", *extra)

    # -- pulling -----------------------------------------------------------

    def manifest(self) -> FetchedManifest:
        """The tag's manifest, at most :data:`MAX_MANIFEST_BYTES`, its digest checked."""
        url = self.client.url(f"v2/{self.path}/manifests/{self.tag}")
        headers = {"Accept": MANIFEST_ACCEPT}
        with self.client.request("GET", url, self.pull_scope(), headers) as response:
            if response.status_code != 200:
                raise response_error(self.client.host, response, f"model {self.name.display()}")
            data = self.client.read_limited(response, MAX_MANIFEST_BYTES, "the manifest")
            media_type = response.headers.get("content-type", "").split(";")[0].strip()
            claimed = response.headers.get("docker-content-digest")
        digest = digest_of(data)
        if claimed is not None and claimed != digest:
            raise UntrustedRegistryError(
                self.client.host, f"it sent a manifest whose bytes hash to {digest}, not {claimed}"
            )
        return FetchedManifest(data, media_type, digest)

    def has_blob(self, digest: str, scopes: tuple[str, ...] | None = None) -> bool:
        url = self.client.url(f"v2/{self.path}/blobs/{digest}")
        with self.client.request("HEAD", url, scopes or self.pull_scope()) as response:
            if response.status_code == 200:
                return True
            if response.status_code == 404:
                return False
            raise response_error(self.client.host, response, f"blob {digest}")

    @contextlib.contextmanager
    def blob(self, digest: str, offset: int) -> Iterator[tuple[Readable, int]]:
        """The blob's bytes from ``offset`` (or from 0 when the registry cannot resume)."""
        url = self.client.url(f"v2/{self.path}/blobs/{digest}")
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with self.client.request("GET", url, self.pull_scope(), headers) as response:
            if response.status_code == 416 and offset:  # nothing after offset: start over
                response.close()
                with self.blob(digest, 0) as whole:
                    yield whole
                return
            if response.status_code not in (200, 206):
                raise response_error(self.client.host, response, f"blob {digest}")
            yield BodyReader(response), self._start(response, offset)

    def _start(self, response: httpx.Response, offset: int) -> int:
        if response.status_code == 200:
            return 0
        match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
        if match is None or int(match.group(1)) != offset:
            raise UntrustedRegistryError(
                self.client.host, f"it answered a download from byte {offset} with another range"
            )
        return offset

    # -- pushing -----------------------------------------------------------

    def start_upload(self, digest: str, mount_from: str | None) -> httpx.URL | None:
        """Begin an upload of ``digest``: None when the registry mounted it from
        ``mount_from`` instead, else where to send the bytes."""
        params = {"mount": digest, "from": mount_from} if mount_from else {}
        url = self.client.url(f"v2/{self.path}/blobs/uploads/").copy_merge_params(params)
        with self.client.request("POST", url, self.push_scope(mount_from)) as response:
            if response.status_code == 201 and mount_from:
                return None
            if response.status_code != 202:
                raise response_error(self.client.host, response, f"upload of {digest}")
            return self._location(response)

    def upload(
        self, location: httpx.URL, path: Path, size: int, digest: str, chunk: int, sent: Sent
    ) -> None:
        """Send the blob at ``path``: in one PUT, or in PATCHes of ``chunk`` bytes and a
        closing PUT when it is larger than that."""
        scopes = self.push_scope()
        if size > chunk:
            for start in range(0, size, chunk):
                length = min(chunk, size - start)
                headers = {
                    "Content-Type": OCTET_STREAM,
                    "Content-Length": str(length),
                    "Content-Range": f"{start}-{start + length - 1}",
                }

                def body(start: int = start, length: int = length) -> Iterator[bytes]:
                    return file_chunks(path, start, length, sent)

                with self.client.request("PATCH", location, scopes, headers, body) as response:
                    if response.status_code != 202:
                        raise response_error(self.client.host, response, f"upload of {digest}")
                    location = self._location(response)
            self._finish(location, digest, b"", 0)
        else:
            self._finish(location, digest, lambda: file_chunks(path, 0, size, sent), size)

    def _finish(self, location: httpx.URL, digest: str, body: Body, size: int) -> None:
        url = location.copy_merge_params({"digest": digest})
        headers = {"Content-Type": OCTET_STREAM, "Content-Length": str(size)}
        with self.client.request("PUT", url, self.push_scope(), headers, body) as response:
            if response.status_code not in (201, 204):
                raise response_error(self.client.host, response, f"upload of {digest}")
            self._check_digest(response, digest, "blob")

    def put_manifest(self, data: bytes, media_type: str) -> None:
        """Tag the repository with these exact manifest bytes."""
        url = self.client.url(f"v2/{self.path}/manifests/{self.tag}")
        headers = {"Content-Type": media_type or media_types.MANIFEST}
        with self.client.request("PUT", url, self.push_scope(), headers, data) as response:
            if response.status_code not in (200, 201, 202):
                raise response_error(self.client.host, response, f"manifest of {self.name}")
            self._check_digest(response, digest_of(data), "manifest")

    def _location(self, response: httpx.Response) -> httpx.URL:
        location = response.headers.get("location")
        if not location:
            raise UntrustedRegistryError(self.client.host, "it gave no upload location")
        return self.client.check_origin(response.request.url.join(location), "an upload location")

    def _check_digest(self, response: httpx.Response, digest: str, what: str) -> None:
        stored = response.headers.get("docker-content-digest")
        if stored is not None and stored != digest:
            raise UntrustedRegistryError(
                self.client.host, f"it stored the {what} {digest} as {stored}"
            )
