"""``ladle create NAME -f Modelfile --host URL``: the build runs on a ladle server.

As Ollama's client does it: the Modelfile is read and checked here; every local file it
names (a FROM path, to a GGUF or to a folder holding one, and each ADAPTER) is hashed and
uploaded with ``HEAD``/``POST /api/blobs/sha256:…`` (skipped when the server has it), and
``POST /api/create`` gets Ollama's JSON form, naming those blobs in ``files`` and
``adapters``. Any other FROM (an image in the server's store, a bundled model, a Hugging
Face reference) goes through as ``from``, for the server to resolve. The server's status
lines are shown as they come; an error is the server's message.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import modelfile
from builder.pipeline.plan import modelfile_folder
from builder.pipeline.resolver import single_gguf
from builder.store.hashing import CHUNK, file_digest
from builder.store.progress import ProgressEvent, ProgressSink
from ladle.errors import BuildError
from modelfile import ModelSpec
from runtime.client import LadleClient


@dataclass(frozen=True)
class LocalFile:
    """A file the Modelfile names, as the server will know it."""

    path: Path
    digest: str
    size: int


def create_request(
    spec: ModelSpec, folder: Path, quantize: str | None = None
) -> tuple[dict[str, Any], list[LocalFile]]:
    """Ollama's ``/api/create`` body for ``spec``, with local files named by digest, and
    those files (to upload first)."""
    request = spec.to_create_request()
    files: list[LocalFile] = []
    if (base := _local_path(spec.from_, folder)) is not None:
        files.append(hashed(single_gguf(base, spec.from_) if base.is_dir() else base))
        del request["from"]
        request["files"] = {files[0].path.name: files[0].digest}
    adapters: dict[str, str] = {}
    for reference in spec.adapters:
        path = _local_path(reference, folder)
        if path is None or not path.is_file():
            raise BuildError(f"ADAPTER {reference}: no file at {folder / reference}")
        files.append(adapter := hashed(path))
        key = path.name if path.name not in adapters else f"{len(adapters)}-{path.name}"
        adapters[key] = adapter.digest
    if adapters:
        request["adapters"] = adapters
    if quantize:
        request["quantize"] = quantize
    return request, files


def _local_path(reference: str, folder: Path) -> Path | None:
    """``reference`` as a file or folder here (``~`` expanded, relative to the
    Modelfile), or ``None`` when nothing is there: then it names something the server
    resolves."""
    path = Path(reference).expanduser()
    path = path if path.is_absolute() else folder / path
    return path if path.exists() else None


def hashed(path: Path) -> LocalFile:
    """``path``'s SHA-256 digest and size."""
    return LocalFile(path, file_digest(path), path.stat().st_size)


def upload(client: LadleClient, file: LocalFile, progress: ProgressSink) -> None:
    """Send ``file`` unless the server has it, reporting bytes sent to ``progress``."""
    if client.has_blob(file.digest):
        progress(ProgressEvent(f"using {_short(file.digest)} ({file.path.name}), on the server"))
        return
    status = f"uploading {_short(file.digest)} ({file.path.name})"
    client.push_blob(file.digest, _chunks(file, status, progress), file.size)


def _chunks(file: LocalFile, status: str, progress: ProgressSink) -> Iterator[bytes]:
    sent = 0
    progress(ProgressEvent(status, 0, file.size))
    with file.path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            sent += len(chunk)
            yield chunk
            progress(ProgressEvent(status, sent, file.size))


def create_on_server(
    client: LadleClient,
    name: str,
    path: Path,
    progress: ProgressSink,
    quantize: str | None = None,
) -> None:
    """Build the Modelfile at ``path`` as ``name`` on ``client``'s server."""
    spec = modelfile.parse_file(path).validate()
    request, files = create_request(spec, modelfile_folder(path), quantize)
    for file in files:
        upload(client, file, progress)
    for status in client.create(name, request):
        text = str(status.get("status", ""))
        done, total = int(status.get("completed") or 0), int(status.get("total") or 0)
        progress(ProgressEvent(text, done, total))


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]
