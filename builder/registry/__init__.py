"""Registry transport: ``ladle pull`` and ``ladle push`` over the OCI distribution API.

Ollama's registry speaks it too (Docker v2 manifests, Ollama's layer media types), so
``registry.ollama.ai/library/…`` names pull as Ollama pulls them, and any distribution
registry (``localhost:5000/team/sre-bot:1``) takes pushes.

::

    client.py      HTTP to one registry: scheme, authentication, redirects, size limits
    transport.py   an httpx transport over http.client: bodies read with readinto
    auth.py        challenges, credentials (ladle's file, Docker's config.json), realms
    repository.py  the API's endpoints for one repository: manifests, blobs, uploads
    pull.py        manifest -> verified blobs -> tag
    push.py        blobs (skipped, mounted or uploaded) -> manifest
    progress.py    progress events, as callbacks or as an iterator (for the HTTP API)
    errors.py      where httpx failures and error responses become ladle errors

:mod:`builder.distribution` chooses between a registry, Hugging Face and the bundled
models, and is what the CLI and the HTTP API call; :mod:`builder.registry.downloads` is where a
pull's bytes wait, resumable, until they are verified.
"""

from __future__ import annotations

from builder.registry.auth import Credentials, CredentialStore
from builder.registry.client import RegistryClient
from builder.registry.progress import TransferEvent, api_object, stream_progress
from builder.registry.pull import pull
from builder.registry.push import UPLOAD_CHUNK, push

__all__ = [
    "UPLOAD_CHUNK",
    "CredentialStore",
    "Credentials",
    "RegistryClient",
    "TransferEvent",
    "api_object",
    "pull",
    "push",
    "stream_progress",
]
