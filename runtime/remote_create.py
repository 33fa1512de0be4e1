"""``ladle create NAME -f Modelfile --host URL``: the build runs on a ladle server.

As Ollama's client does it: the Modelfile is read and checked here; every local file it
names (a FROM path, to a GGUF, to a folder holding one or to a Hugging Face checkpoint
folder, whose files the server converts, each ADAPTER, and the DRAFT's GGUF) is hashed
and uploaded with ``HEAD``/``POST /api/blobs/sha256:…`` (skipped when the server has it),
and ``POST /api/create`` gets Ollama's JSON form, naming those blobs in ``files``,
``adapters`` and ``draft_files``. Any other FROM (an image in the server's store, a
bundled model, a Hugging Face reference) goes through as ``from``, for the server to
resolve. The server's status lines are shown as they come; an error is the server's
message.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import modelfile
from builder.convert.checkpoint import looks_like_checkpoint
from builder.convert.lora import is_peft_folder
from builder.convert.uploaded import PEFT_FILES, checkpoint_files
from builder.pipeline.plan import modelfile_folder
from builder.pipeline.projector import projector_uploads
from builder.pipeline.resolver import gguf_files, single_gguf
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
    spec: ModelSpec, folder: Path, quantize: str | None = None, draft_quantize: str | None = None
) -> tuple[dict[str, Any], list[LocalFile]]:
    """Ollama's ``/api/create`` body for ``spec``, with local files named by digest, and
    those files (to upload first); ``draft_quantize`` goes as it is (the server checks it)."""
    spec, projectors = projector_uploads(spec, folder)  # a vision model's projector file
    request = spec.to_create_request()
    files: list[LocalFile] = []
    base = _local_path(spec.from_, folder)
    if base is not None:
        files += [hashed(path) for path in model_files(base, spec.from_)]
        del request["from"]
        request["files"] = {_sent_name(file.path, base): file.digest for file in files}
    for projector in map(hashed, projectors):
        files.append(projector)
        request.setdefault("files", {})[projector.path.name] = projector.digest
    adapters: dict[str, str] = {}
    for reference in spec.adapters:
        path = _local_path(reference, folder)
        if path is not None and path.is_dir() and is_peft_folder(path):
            files += _peft_files(path, reference, adapters)
            adapters |= {file.path.name: file.digest for file in files[-len(PEFT_FILES) :]}
            continue
        if path is None or not path.is_file():
            raise BuildError(f"ADAPTER {reference}: no file at {folder / reference}")
        files.append(adapter := hashed(path))
        key = path.name if path.name not in adapters else f"{len(adapters)}-{path.name}"
        adapters[key] = adapter.digest
    if adapters:
        request["adapters"] = adapters
    if (draft := draft_file(spec, folder)) is not None:
        files.append(draft)
        request["draft_files"] = {draft.path.name: draft.digest}
    if draft_quantize:
        request["draft_quantize"] = draft_quantize
    if quantize:
        request["quantize"] = quantize
    return request, files


def draft_file(spec: ModelSpec, folder: Path) -> LocalFile | None:
    """The GGUF a DRAFT names (a file, or the one in a folder), sent as ``draft_files``.

    As Ollama's client: the DRAFT must be a local file or folder (the API has no field
    for a draft by name), and not the one FROM names."""
    if spec.draft is None:
        return None
    path = _local_path(spec.draft, folder)
    if path is None:
        raise BuildError(
            f"DRAFT {spec.draft}: no file or folder at {folder / spec.draft}; a build on "
            "a server takes a local GGUF as DRAFT (sent as draft_files)"
        )
    base = _local_path(spec.from_, folder)
    if base is not None and base.resolve() == path.resolve():
        raise BuildError(f"DRAFT must not reference the same local path as FROM: {path}")
    return hashed(single_gguf(path, spec.draft) if path.is_dir() else path)


def _peft_files(folder: Path, reference: str, adapters: dict[str, str]) -> list[LocalFile]:
    """A PEFT adapter's files, which the server converts for the base (one per request:
    its files' names are fixed)."""
    if set(PEFT_FILES) & set(adapters):
        raise BuildError(f"ADAPTER {reference}: a build on a server takes one PEFT adapter")
    for name in PEFT_FILES:
        if not (folder / name).is_file():
            raise BuildError(f"ADAPTER {reference}: {folder / name} is missing")
    return [hashed(folder / name) for name in PEFT_FILES]


def model_files(base: Path, reference: str) -> list[Path]:
    """The files FROM ``base`` sends: the file itself; or the GGUF in a folder; or a
    Hugging Face checkpoint's files, as Ollama's client picks them (the server converts)."""
    if base.is_file():
        return [base]
    if not gguf_files(base) and looks_like_checkpoint(base):
        return checkpoint_files(base)
    return [single_gguf(base, reference)]


def _sent_name(path: Path, base: Path) -> str:
    """A file's name in ``files``: its path within the FROM folder (``2_Dense/config.json``)."""
    return path.name if base.is_file() else path.relative_to(base).as_posix()


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
    draft_quantize: str | None = None,
) -> None:
    """Build the Modelfile at ``path`` as ``name`` on ``client``'s server."""
    spec = modelfile.parse_file(path).validate()
    request, files = create_request(spec, modelfile_folder(path), quantize, draft_quantize)
    for file in files:
        upload(client, file, progress)
    for status in client.create(name, request):
        text = str(status.get("status", ""))
        done, total = int(status.get("completed") or 0), int(status.get("total") or 0)
        progress(ProgressEvent(text, done, total))


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]
