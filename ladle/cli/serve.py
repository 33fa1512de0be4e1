"""Server commands: ``serve`` runs the HTTP API; ``run``, ``chat``, ``ps`` and ``stop`` are its
clients and talk to it only through :class:`runtime.client.LadleClient`."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ladle.settings import Settings
from ladle.units import human_bytes

if TYPE_CHECKING:
    from runtime.client import LadleClient

SERVE_HELP = """Serve the model store over Ollama's HTTP API until SIGTERM or Ctrl-C.

Models load on their first request and stay loaded for keep_alive. On SIGTERM the \
server stops accepting connections, lets requests in flight finish for \
LADLE_SHUTDOWN_GRACE seconds, ends the rest with an error (a stream's last line), \
and unloads every model.

\b
Settings (environment variables, read once at start):
  LADLE_HOST               listen on host[:port] (127.0.0.1:11434)
  LADLE_MODELS             the model store (~/.ladle/models)
  LADLE_KEEP_ALIVE         idle time before a model unloads (5m; 0, -1)
  LADLE_NUM_PARALLEL       requests one model serves at once (4)
  LADLE_MAX_LOADED_MODELS  models loaded at once (3)
  LADLE_MAX_QUEUE          requests that may wait; more get 503 (512)
  LADLE_SHUTDOWN_GRACE     seconds requests get to finish on exit (10)
  LADLE_RUNNER_TIMEOUT     seconds a busy runner may take for one step before it is
                           taken for hung and killed (120)
  LADLE_KV_CACHE_TYPE      KV cache element type: f16, q8_0, q4_0 (f16)
  LADLE_FLASH_ATTENTION    flash attention: auto, on, off (auto)
  LADLE_CONTEXT_LENGTH     default num_ctx (chosen from free GPU memory)
  LADLE_CACHE_DIR          where prompt caches are saved when a model unloads
                           (.ladle/prompt-cache in the store)
  LADLE_CACHE_MAX          their size cap, least recently used evicted; 0: off (8GiB)
  LADLE_ORIGINS            browser origins CORS allows (loopback ones)
  LADLE_ALLOWED_HOSTS      Host headers accepted besides loopback ones
  LADLE_API_KEYS           keys clients send as Bearer tokens (none)
  LADLE_API_KEY_FILE       a file of such keys, one a line
  LADLE_API_KEY            the key ladle run/chat/ps/stop send (none)
  LADLE_RATE_LIMIT         e.g. 60/min,20000tokens/min (off on loopback)
  LADLE_TRUSTED_PROXIES    proxies whose X-Forwarded-For is believed
  LADLE_MAX_BODY_BYTES     larger request bodies get 413 (32MiB)
  LADLE_MAX_BLOB_BYTES     larger /api/blobs uploads get 413 (64GiB)
  LADLE_BLOB_MIN_RATE      slower /api/blobs uploads are cut off, 408 (32KiB a second)
  LADLE_MAX_UPLOADS        /api/blobs uploads at once; more get 503 (4)
  LADLE_MAX_PROMPT_CHARS   longer prompts get 413
  LADLE_MAX_MESSAGES       longer conversations get 413
  LADLE_BODY_TIMEOUT       seconds a request body may take to arrive
  LADLE_HEADER_TIMEOUT     seconds request headers may take to arrive

Example: LADLE_HOST=127.0.0.1:8080 ladle serve"""


CLUSTER_OPTION = typer.Option(
    "--cluster",
    help="Serve on a Ray Serve cluster (the cluster extra), at ADDRESS: auto (the running "
    "one, the default), a Ray address, or local (one started here); see docs/cluster.md.",
)
ADDRESS_ARGUMENT = typer.Argument(
    metavar="ADDRESS",
    help="With --cluster: the Ray cluster's address (auto, host:port, ray://…, local).",
)


def serve(
    cluster: Annotated[bool, CLUSTER_OPTION] = False,
    address: Annotated[str | None, ADDRESS_ARGUMENT] = None,
) -> None:
    if address is not None and not cluster:
        raise typer.BadParameter("an ADDRESS is a Ray cluster's: use --cluster ADDRESS")
    if cluster:
        from runtime.cluster.command import serve_on_cluster

        serve_on_cluster(address or "auto")
        return
    import uvicorn

    from ladle.cli.graceful import GracefulServer, deadline, scheduler_closer
    from runtime.api import create_app
    from runtime.api.middleware.limits import header_timeout_protocol

    settings = Settings.from_environment()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:  %(name)s: %(message)s")
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=header_timeout_protocol(settings.security.header_timeout),
        # asyncio's loop, as before ladle[cluster] (Ray Serve) brought uvloop, which
        # uvicorn's "auto" would pick: plain `ladle serve` runs the same with or without it.
        loop="asyncio",
        timeout_graceful_shutdown=deadline(settings.shutdown_grace),
        log_config=None,
        access_log=False,
    )
    GracefulServer(config, scheduler_closer(app), settings.shutdown_grace).run()


serve.__doc__ = SERVE_HELP


HOST_OPTION = typer.Option(
    "--host", help="The server, as LADLE_HOST takes it ([http://]host[:port]); default LADLE_HOST."
)


def run(
    name: Annotated[str, typer.Argument(help="The model to ask.")],
    prompt: Annotated[
        str | None, typer.Argument(help="The question (default: standard input, if piped).")
    ] = None,
    host: Annotated[str | None, HOST_OPTION] = None,
) -> None:
    """Ask a model one question through the server and print the answer as it comes.

    With no PROMPT, the question is read from standard input when it is piped; on a
    terminal, the interactive chat opens (as with ladle chat NAME), and starts the server
    if none answers on this machine.

    Example: ladle run sre-bot "How do I find the process using port 8080?"
    """

    if prompt is None:
        if stdin_is_terminal():
            open_chat(name, host)
            return
        prompt = sys.stdin.read()
    with client_for(chat_settings(host)) as client:
        messages = [{"role": "user", "content": prompt}]
        for piece in client.chat(name, messages):
            typer.echo(piece.get("message", {}).get("content", ""), nl=False)
            sys.stdout.flush()
    typer.echo()


def chat(
    name: Annotated[
        str | None, typer.Argument(help="The model to talk to (default: pick one from a list).")
    ] = None,
    host: Annotated[str | None, HOST_OPTION] = None,
) -> None:
    """Chat with a model in the terminal: Enter sends, Escape stops an answer, /help
    lists the commands, F2 shows the settings panel, Ctrl+D or /bye quits. Starts the
    server if none answers on this machine. Keys and commands: docs/tui.md.

    Example: ladle chat sre-bot
    """
    open_chat(name, host)


def open_chat(name: str | None, host: str | None = None) -> None:
    """Run the terminal chat against the server at ``host`` (default ``LADLE_HOST``)
    until the user quits, starting a local server first if none answers."""
    from runtime.autostart import ensure_server
    from tui import make_app

    settings = chat_settings(host)
    with client_for(settings) as client:
        notice = ensure_server(settings, client)
        make_app(client, name, notice=notice).run()


def client_for(settings: Settings) -> LadleClient:
    """The client of the server ``settings`` name, sending ``LADLE_API_KEY`` if set."""
    from runtime.client import LadleClient

    return LadleClient(settings.url, api_key=settings.api_key)


def chat_settings(host: str | None) -> Settings:
    """The settings, with ``--host`` (when given) in place of ``LADLE_HOST``."""
    return Settings.from_environment(None if host is None else {**os.environ, "LADLE_HOST": host})


def ps() -> None:
    """List the models loaded in the server: NAME, ID, SIZE, PROCESSOR, CONTEXT, UNTIL,
    and CACHED, its prompt cache hits (from the slot's own cache/another slot's/disk),
    and SPECULATION, the tokens its speculative decoding accepted of those it proposed.

    Example: ladle ps
    """
    from runtime.memory import processor

    with client_for(Settings.from_environment()) as client:
        models = client.ps()
    rows = [("NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL", "CACHED", "SPECULATION")]
    for model in models:
        size, vram = int(model.get("size", 0)), int(model.get("size_vram", 0))
        rows.append(
            (
                str(model.get("name", "")),
                str(model.get("digest", ""))[:12],
                human_bytes(size),
                processor(size, vram),
                str(model.get("context_length", "")),
                until(model.get("expires_at")),
                cache_hits(model.get("prompt_cache")),
                speculation(model.get("draft"), model.get("speculation")),
            )
        )
    shown = placed(rows, models)  # against a cluster, REPLICA and NODE too
    widths = [max(len(row[column]) for row in shown) for column in range(len(shown[0]))]
    for row in shown:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        typer.echo("    ".join(cells).rstrip())


def stop(name: Annotated[str, typer.Argument(help="The model to unload.")]) -> None:
    """Unload a model from the server now (its requests in flight finish first).

    Example: ladle stop sre-bot
    """

    with client_for(Settings.from_environment()) as client:
        client.stop(name)


def placed(rows: Sequence[tuple[str, ...]], models: list[Any]) -> list[tuple[str, ...]]:
    """``ps`` against a cluster (docs/cluster.md): REPLICA and NODE columns too."""
    if not any(isinstance(model, dict) and "replica" in model for model in models):
        return list(rows)
    head, *body = rows
    where = [(str(model.get("replica", "")), str(model.get("node", ""))[:12]) for model in models]
    return [(*head, "REPLICA", "NODE"), *((*row, *at) for row, at in zip(body, where, strict=True))]


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def cache_hits(hits: Any) -> str:
    """``ps``'s CACHED: hits in memory/shared/disk and the prompt tokens they saved."""
    if not isinstance(hits, dict):
        return ""
    counts = "/".join(str(hits.get(source, 0)) for source in ("memory", "shared", "disk"))
    return f"{counts} ({hits.get('tokens_saved', 0)} tokens)"


def speculation(draft: Any, counts: Any) -> str:
    """``ps``'s SPECULATION: accepted of proposed tokens and the rate, with "draft" when a
    draft model is loaded (empty when neither)."""
    drafted = counts.get("drafted", 0) if isinstance(counts, dict) else 0
    if not drafted:
        return "draft" if draft else ""
    accepted = counts.get("accepted", 0)
    shown = f"{accepted}/{drafted} ({accepted / drafted:.0%})"
    return f"draft {shown}" if draft else shown


def until(expires_at: Any, now: datetime | None = None) -> str:
    """``ps``'s UNTIL column: ``4 minutes from now``, ``Forever``, ``Stopping...``."""
    if not isinstance(expires_at, str):
        return ""
    moment = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    seconds = (moment - (now or datetime.now(UTC))).total_seconds()
    if seconds > 100 * 365 * 86_400:
        return "Forever"
    if seconds <= 0:
        return "Stopping..."
    for unit, length in (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1)):
        if seconds >= length:
            count = int(seconds // length)
            return f"{count} {unit}{'s' if count > 1 else ''} from now"
    return "Less than a second from now"
