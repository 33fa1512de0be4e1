"""Ollama's routes that change the store: ``/api/create``, ``/api/blobs``, ``/api/pull``
and ``/api/push`` (all of them admin routes, :data:`runtime.api.middleware.security.ADMIN_PATHS`).

Each streams its progress as NDJSON status objects (``{"status": "…"}``, with
``digest``, ``total`` and ``completed`` for transfers) ending with
``{"status": "success"}``, or answers one object with ``"stream": false``. The request
is checked before the stream starts (an unknown base model is a 404, a bad field a 400);
an error after that ends the stream with an ``{"error": "…"}`` line, as Ollama does.

The builder and registry work blocks, so it runs in a worker thread
(:func:`builder.registry.progress.stream_progress`) and every event is awaited from
another, leaving the event loop free for other requests. A build holds the store lock
shared (:meth:`builder.store.store.Store.in_use`) until its tag is written, as the CLI's does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from builder.convert.uploaded import (
    is_checkpoint_upload,
    is_peft_upload,
    prepare_adapter_upload,
    prepare_upload,
)
from builder.distribution import pull_model, push_model
from builder.gguf.file import inspect_gguf
from builder.gguf.header import starts_as_gguf
from builder.pipeline.build import build_spec
from builder.pipeline.options import BuildOptions
from builder.pipeline.quantize import quantize_type
from builder.registry.progress import api_object, stream_progress
from builder.sources import bundled, huggingface
from builder.store.manifest import check_digest
from builder.store.names import ModelName
from builder.store.progress import ProgressEvent, ProgressSink
from builder.store.store import Store
from ladle.errors import (
    BuildInputError,
    GGUFError,
    InvalidFieldError,
    InvalidOptionError,
    LadleError,
    QuantizeRefusedError,
    StoreError,
)
from modelfile import ModelSpec
from modelfile.parameters import Parameters
from modelfile.source import MAX_MODELFILE_BYTES
from modelfile.spec import ChatMessage
from runtime.api.create_files import split_projector
from runtime.api.errors import error_of, public_message, without_paths
from runtime.api.ollama import Served
from runtime.api.openapi import BINARY_BODY, NDJSON, api_answers
from runtime.api.options import check_ceilings
from runtime.api.responses import StatusResponse
from runtime.api.service import Service
from runtime.api.uploads import store_upload

router = APIRouter()
logger = logging.getLogger(__name__)

Job = Callable[[ProgressSink], object]
"""Builder or registry work that reports its progress to a sink."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class CreateBody(BaseModel):
    """``POST /api/create``: Ollama's ``CreateRequest``.

    A field Ollama's clients send is taken or refused by name, never ignored: ``name``
    and ``quantization`` are its older spellings of ``model`` and ``quantize`` (Ollama's
    Go client sends ``"name": ""`` with every request); ``renderer``, ``parser`` and
    ``requires`` are the Modelfile's RENDERER, PARSER and REQUIRES; ``draft_files``
    names the DRAFT's uploaded GGUF and ``draft_quantize`` quantizes it. Remote models
    (``remote_host``) and ``info`` overrides are refused with a 400 naming the field
    when given a value, and any other field is an unknown one (400). As in Ollama, an
    empty string is a field not given.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    model: str = ""
    name: str = Field("", description="Ollama's older name of `model`.")
    from_: str | None = Field(None, alias="from")
    files: dict[str, str] = Field(default_factory=dict)
    adapters: dict[str, str] = Field(default_factory=dict)
    template: str | None = None
    system: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    messages: list[ChatMessage] = Field(default_factory=list)
    license: str | list[str] | None = None
    quantize: str | None = None
    quantization: str | None = Field(None, description="Ollama's older name of `quantize`.")
    renderer: str | None = None
    parser: str | None = None
    requires: str | None = None
    draft_files: dict[str, str] = Field(
        default_factory=dict,
        description="DRAFT: the draft model's GGUF file name -> the digest of its uploaded blob.",
    )
    draft_quantize: str | None = Field(
        None, description="Quantize the draft's (unquantized) weights to this type."
    )
    remote_host: str | None = Field(None, description="Refused.")
    info: dict[str, Any] | None = Field(None, description="Refused.")
    stream: bool = True

    def target(self) -> str:
        """The name to build: ``model``, or the older ``name``."""
        return _model_or_name(self.model, self.name)

    def quantize_to(self) -> str | None:
        """The type to quantize to (checked), from ``quantize`` or the older
        ``quantization``; None when neither is given."""
        given = {key: value for key in QUANTIZE_FIELDS if (value := getattr(self, key))}
        chosen = {key: _quantize_type(key, value) for key, value in given.items()}
        if len(set(chosen.values())) > 1:
            both = " and ".join(f"{key} {value!r}" for key, value in given.items())
            reason = f"{both} differ; give one (quantization is the older name of quantize)"
            raise InvalidFieldError("quantize", reason)
        return next(iter(chosen.values()), None)

    def refuse_unsupported(self) -> None:
        """A 400 naming the first Ollama field given that ladle does not build."""
        for field, reason in UNSUPPORTED.items():
            if getattr(self, field):
                raise InvalidFieldError(field, reason)


QUANTIZE_FIELDS = ("quantize", "quantization")
"""``/api/create``'s names for the type to quantize to, the current one first."""

UNSUPPORTED = {
    "remote_host": "ladle builds images of local weights only, not remote models",
    "info": "ladle reads a model's facts from its GGUF; they cannot be overridden",
}
"""Fields of Ollama's ``CreateRequest`` that ladle refuses when they hold a value."""


def _quantize_type(field: str, text: str) -> str:
    try:
        return quantize_type(text)
    except QuantizeRefusedError as error:
        raise InvalidFieldError(field, str(error)) from None


class TransferBody(_Body):
    """``POST /api/pull`` and ``POST /api/push``.

    Ollama's Go client sends ``username`` and ``password`` with every request, empty
    (Ollama ignores them, deprecated); a value in either is refused by name, since ladle
    never takes credentials from a request (``ladle login`` stores them)."""

    model: str = ""
    name: str = ""
    insecure: bool = False
    stream: bool = True
    username: str = Field("", description="Ollama's deprecated field; refused unless empty.")
    password: str = Field("", description="Ollama's deprecated field; refused unless empty.")

    def target(self) -> str:
        """The model to move: ``model``, or the older ``name``; credentials refused."""
        for field in ("username", "password"):
            if getattr(self, field):
                raise InvalidFieldError(field, NO_CREDENTIALS)
        return _model_or_name(self.model, self.name)


NO_CREDENTIALS = "ladle takes no registry credentials in a request (the server keeps them)"


def _model_or_name(model: str, name: str) -> str:
    """``model``, or Ollama's older ``name`` field when ``model`` is empty; one is needed."""
    chosen = model or name
    if not chosen:
        raise InvalidFieldError("model", "a model name is required")
    return chosen


# -- blobs ---------------------------------------------------------------------


@router.head(
    "/api/blobs/{digest}",
    response_class=Response,
    responses=api_answers(None, 400, 404, description="The blob is in the store"),
)
async def has_blob(digest: str, served: Service = Served) -> Response:
    found = served.store.has_blob(_digest(digest))
    return Response(status_code=200 if found else 404)


@router.post(
    "/api/blobs/{digest}",
    status_code=201,
    response_class=Response,
    responses=api_answers(None, 400, 413, 503, status=201, description="Stored"),
    openapi_extra={"requestBody": BINARY_BODY},
)
async def put_blob(digest: str, request: Request, served: Service = Served) -> Response:
    """Stream the body into the store; it is kept only if it hashes to ``digest``
    (bounded in pace, count and size: :mod:`runtime.api.uploads`)."""
    expected = _digest(digest)
    return await store_upload(request, served.store, expected, served.settings.security)


def _digest(text: str) -> str:
    """``sha256:<hex>`` from the path, checked (400 otherwise)."""
    try:
        return check_digest(text)
    except StoreError:
        raise InvalidFieldError("digest", "expected sha256: and 64 lower-case hex digits") from None


# -- create --------------------------------------------------------------------


@router.post(
    "/api/create",
    response_model=None,
    responses=api_answers(StatusResponse, 400, 404, 500, 502, stream=True),
)
async def create(body: CreateBody, served: Service = Served) -> Response:
    store, settings = served.store, served.settings
    name = ModelName.parse(body.target())
    body.refuse_unsupported()
    options = BuildOptions(
        quantize=body.quantize_to(), draft_quantize=_draft_quantize(body), hub=settings.hub
    )
    spec = await anyio.to_thread.run_sync(create_spec, body, store)

    def job(sink: ProgressSink) -> object:
        return build_spec(spec, name, store, store.root, sink, options)

    return await _progress(job, body.stream)


def create_spec(body: CreateBody, store: Store) -> ModelSpec:
    """The spec a create request describes; a missing base or blob, or more text than
    a Modelfile may hold, is refused here, before anything is written."""
    license_ = [body.license] if isinstance(body.license, str) else body.license or []
    _check_modelfile_size(body, license_)
    files, projector = split_projector(store, body.files)  # a vision model's second file
    return ModelSpec(
        from_=_base(body.model_copy(update={"files": files}), store),
        also_from=projector,
        parameters=_parameters(body.parameters),
        template=body.template,
        system=body.system,
        messages=tuple(body.messages),
        license=tuple(license_),
        adapters=_adapters(store, body.adapters),
        draft=_draft(store, body.draft_files),
        renderer=body.renderer or None,
        parser=body.parser or None,
        requires=body.requires or None,
    )


def _check_modelfile_size(body: CreateBody, licenses: list[str]) -> None:
    """One size rule for every way in: the text of a create request (template, system
    prompt, licenses, messages, parameters) may not pass the largest Modelfile the CLI
    reads, ``MAX_MODELFILE_BYTES``; a 400 names the field that holds the most of it."""
    sizes = {
        "template": _utf8_size(body.template),
        "system": _utf8_size(body.system),
        "license": sum(map(_utf8_size, licenses)),
        "messages": sum(_utf8_size(m.content) + len(m.role) for m in body.messages),
        "parameters": _utf8_size(json.dumps(body.parameters, ensure_ascii=False)),
    }
    total = sum(sizes.values())
    if total > MAX_MODELFILE_BYTES:
        field = max(sizes, key=sizes.__getitem__)
        limit = MAX_MODELFILE_BYTES // (1024 * 1024)
        raise InvalidFieldError(
            field,
            f"the request's text is {total:,} bytes; a Modelfile, and so a create "
            f"request, may hold at most {limit} MiB",
        )


def _utf8_size(text: str | None) -> int:
    """Bytes of ``text`` in UTF-8 (its length already says when it is far too long)."""
    if not text:
        return 0
    return len(text) if len(text) > MAX_MODELFILE_BYTES else len(text.encode(errors="replace"))


def _base(body: CreateBody, store: Store) -> str:
    """FROM: a GGUF of ``files`` (a blob path), or a model name. Never a path on the
    server, which a client could otherwise read any GGUF file through.

    As Ollama's server does (``detectModelTypeFromFile``), a file is a GGUF by its name
    (``*.gguf``) or, under another name (``model.bin``), by its first bytes; files
    with safetensors among them are a Hugging Face checkpoint, converted."""
    if body.files:
        if body.from_ is not None:
            raise InvalidFieldError("files", "give 'from' or 'files', not both")
        if is_checkpoint_upload(list(body.files)):
            return _checkpoint(body, store)
        if len(body.files) != 1:
            raise InvalidFieldError(
                "files", "ladle builds from one GGUF file, or a checkpoint's safetensors files"
            )
        name, digest = next(iter(body.files.items()))
        path = _blob_file(store, "files", name, digest)
        if not name.lower().endswith(".gguf") and not starts_as_gguf(Path(path)):
            raise InvalidFieldError(
                "files", f"{name}: not a GGUF file (nor a checkpoint with *.safetensors)"
            )
        return _usable_gguf(path, "files", name)
    if body.from_ is None:
        raise InvalidFieldError("from", "a base model ('from') or a GGUF ('files') is required")
    if huggingface.is_reference(body.from_):
        return body.from_
    base = ModelName.parse(body.from_)
    if base.display() not in bundled.MODELS:
        store.get(base)  # ModelNotFoundError: a 404, before the stream starts
    return body.from_


def _checkpoint(body: CreateBody, store: Store) -> str:
    """FROM a Hugging Face checkpoint's uploaded files: the folder the builder converts
    (:mod:`builder.convert.uploaded`), checked now so that a bad one is a 400."""
    blobs = {name: Path(_blob_file(store, "files", name, d)) for name, d in body.files.items()}
    try:
        return str(prepare_upload(store, blobs, ModelName.parse(body.target()).model))
    except BuildInputError as error:
        raise InvalidFieldError("files", str(error)) from None


def _draft(store: Store, files: dict[str, str]) -> str | None:
    """DRAFT: the GGUF of ``draft_files`` (an uploaded blob), as ``files`` gives FROM's."""
    if not files:
        return None
    if len(files) != 1:
        raise InvalidFieldError("draft_files", "ladle drafts with exactly one GGUF file")
    name, digest = next(iter(files.items()))
    path = _blob_file(store, "draft_files", name, digest)
    if not name.lower().endswith(".gguf") and not starts_as_gguf(Path(path)):
        raise InvalidFieldError("draft_files", f"{name}: ladle drafts with a GGUF file only")
    return _usable_gguf(path, "draft_files", name)


def _draft_quantize(body: CreateBody) -> str | None:
    """The type to quantize the draft to (checked); it needs a draft, as in Ollama."""
    if not body.draft_quantize:
        return None
    if not body.draft_files:
        raise InvalidFieldError("draft_quantize", "needs a draft model (draft_files)")
    return _quantize_type("draft_quantize", body.draft_quantize)


def _adapters(store: Store, adapters: dict[str, str]) -> tuple[str, ...]:
    """ADAPTER lines: each uploaded GGUF LoRA, or the folder of an uploaded PEFT
    adapter (converted for the base by the build: :mod:`builder.convert.lora`)."""
    if not is_peft_upload(list(adapters)):
        return tuple(_adapter(store, name, digest) for name, digest in adapters.items())
    blobs = {name: Path(_blob_file(store, "adapters", name, d)) for name, d in adapters.items()}
    try:
        return (str(prepare_adapter_upload(store, blobs)),)
    except BuildInputError as error:
        raise InvalidFieldError("adapters", str(error)) from None


def _adapter(store: Store, name: str, digest: str) -> str:
    return _usable_gguf(_blob_file(store, "adapters", name, digest), "adapters", name)


def _usable_gguf(path: str, field: str, name: str) -> str:
    """``path``, an uploaded blob, if it is a GGUF llama.cpp would load; if not, the
    client sent a bad file: a 400 naming the field and the file, before the stream
    starts (the builder would find the same, as a failed build)."""
    try:
        inspect_gguf(path, display_name=name)
    except GGUFError as error:
        raise InvalidFieldError(field, str(error)) from None
    return path


def _blob_file(store: Store, field: str, name: str, digest: str) -> str:
    """The path of an uploaded blob, as the builder reads a file base or adapter."""
    if not store.has_blob(_digest(digest)):
        raise InvalidFieldError(field, f"{name}: blob {digest} is not in the store (upload it)")
    return str(store.blob_path(digest))


def _parameters(values: dict[str, Any]) -> Parameters:
    """Ollama's ``parameters`` object, checked as PARAMETER lines are, and against the
    ceilings a request's options have (a runner loads the image with them)."""
    chosen = dict(values)
    if isinstance(chosen.get("stop"), str):
        chosen["stop"] = [chosen["stop"]]
    check_ceilings(chosen, this_machine=False)
    try:
        return Parameters.model_validate(chosen)
    except ValidationError as exc:
        problem = exc.errors()[0]
        option = str(problem["loc"][0]) if problem["loc"] else "parameters"
        raise InvalidOptionError(option, chosen.get(option), problem["msg"]) from None


# -- pull and push -------------------------------------------------------------


@router.post(
    "/api/pull",
    response_model=None,
    responses=api_answers(StatusResponse, 400, 404, 500, 502, stream=True),
)
async def pull(body: TransferBody, served: Service = Served) -> Response:
    store, settings = served.store, served.settings
    ModelName.parse(body.target())  # a bad name is a 400, before the stream

    def job(sink: ProgressSink) -> object:
        return pull_model(body.target(), store, settings, sink, insecure=body.insecure)

    return await _progress(job, body.stream)


@router.post(
    "/api/push",
    response_model=None,
    responses=api_answers(StatusResponse, 400, 404, 500, 502, stream=True),
)
async def push(body: TransferBody, served: Service = Served) -> Response:
    store, settings = served.store, served.settings
    await anyio.to_thread.run_sync(store.get, ModelName.parse(body.target()))

    def job(sink: ProgressSink) -> object:
        return push_model(body.target(), store, settings, sink, insecure=body.insecure)

    return await _progress(job, body.stream)


# -- progress ------------------------------------------------------------------


async def _progress(job: Job, stream: bool) -> Response:
    """``job``'s events as NDJSON, or its last one (or its error) as one object."""
    if not stream:
        return await _gathered(job)
    return StreamingResponse(_lines(job), media_type=NDJSON)


async def _lines(job: Job) -> AsyncIterator[bytes]:
    events = stream_progress(job)
    try:
        while (event := await anyio.to_thread.run_sync(_next_event, events)) is not None:
            yield _line(_shown(event))
    except Exception as error:
        if not isinstance(error, LadleError):
            logger.exception("a store operation failed")
        yield _line({"error": public_message(error)})
    finally:
        await anyio.to_thread.run_sync(_close, events)


async def _gathered(job: Job) -> Response:
    events = stream_progress(job)
    last: dict[str, Any] = {"status": "success"}
    try:
        while (event := await anyio.to_thread.run_sync(_next_event, events)) is not None:
            last = _shown(event)
    except LadleError as error:
        body, status = error_of("/api", error)
        return JSONResponse(body, status)
    return JSONResponse(last)


def _shown(event: ProgressEvent) -> dict[str, Any]:
    """``event`` as the client sees it: a status that names a file on the server (the
    builder's "copying /…/blobs/sha256-…") names only its last part, as error messages
    do, so that a remote client does not learn the server's file layout."""
    shown = api_object(event)
    return shown | {"status": without_paths(shown["status"])}


def _next_event(events: Iterator[ProgressEvent]) -> ProgressEvent | None:
    return next(events, None)


def _close(events: Iterator[ProgressEvent]) -> None:
    """Stop the job (a closed progress iterator cancels its transfer)."""
    if isinstance(events, Generator):
        events.close()


def _line(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
