"""Starting a local ``ladle serve`` for a client that finds none (``ladle run``, ``chat``).

Only an address on this machine is started: a server elsewhere that does not answer is
the client's :class:`~ladle.errors.ServerUnreachableError`. The server runs detached, in
its own session, so that the chat's Ctrl+C does not reach it, and it keeps running after
the chat ends, as Ollama's server does.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ladle.errors import ServerError, ServerUnreachableError
from ladle.settings import Settings
from runtime.client import LadleClient


def ensure_server(
    settings: Settings,
    client: LadleClient,
    start: Callable[[Settings], tuple[subprocess.Popen[bytes], Path]] | None = None,
) -> str | None:
    """``None`` when the server at ``settings.url`` answers; otherwise, when that address
    is on this machine, start ``ladle serve`` there (``start``), wait until it answers
    and say so. A server on another machine that does not answer is
    ServerUnreachableError: ladle cannot start it."""
    try:
        client.version()
        return None
    except ServerUnreachableError:
        if not is_loopback(settings.host):
            raise
    process, log = (start or start_server)(settings)
    wait_for_server(client, process, log)
    return (
        f"Started ladle serve at {settings.url} (pid {process.pid}, log {log}); "
        "it keeps running after you quit."
    )


def is_loopback(host: str) -> bool:
    """Whether ``host`` (``LADLE_HOST``'s) is this machine, where ladle may start a server."""
    if host in ("localhost", "", "0.0.0.0", "::"):  # a wildcard bind is reached on loopback
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def start_server(settings: Settings) -> tuple[subprocess.Popen[bytes], Path]:
    """A detached ``ladle serve`` on ``settings.url`` (loopback, even when LADLE_HOST is a
    wildcard), in its own session so that the chat's Ctrl+C does not reach it; its output
    goes to ``serve.log`` next to the model store."""
    log = settings.models.parent / "serve.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LADLE_HOST": settings.url, "LADLE_MODELS": str(settings.models)}
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "ladle", "serve"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, log


def wait_for_server(
    client: LadleClient, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 30.0
) -> None:
    """Return once ``/api/version`` answers; ServerError when the server exits first or
    does not answer within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(0, f"ladle serve exited with status {process.returncode}; see {log}")
        try:
            client.version()
            return
        except ServerUnreachableError:
            time.sleep(0.1)
    raise ServerError(0, f"ladle serve did not answer within {timeout_s:g} s; see {log}")
