"""Image commands: ``create``, ``list``, ``show``, ``cp`` and ``rm``, as Ollama has them.

The builder (GGUF reading, Jinja, numpy) is imported inside the commands that need it, so
that ``ladle list`` starts in a fraction of a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from builder.pipeline.quantize import TYPES
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.settings import Settings
from ladle.units import human_bytes, human_time

if TYPE_CHECKING:
    from builder.store.image import Image


def _store() -> Store:
    return Store(Settings.from_environment().models)


def create(
    name: Annotated[str, typer.Argument(help="Name of the new image, e.g. sre-bot or sre-bot:v2.")],
    file: Annotated[
        Path, typer.Option("--file", "-f", help="The Modelfile to build.", show_default=True)
    ] = Path("Modelfile"),
    locked: Annotated[
        bool,
        typer.Option(
            "--locked",
            help="Fail, showing the diff and tagging nothing, if the build differs from "
            "Modelfile.lock (a FROM or ADAPTER that resolves to other bytes, another image).",
        ),
    ] = False,
    no_lock: Annotated[
        bool,
        typer.Option("--no-lock", help="Neither read nor write Modelfile.lock."),
    ] = False,
    quantize: Annotated[
        str | None,
        typer.Option(
            "--quantize",
            "-q",
            metavar="TYPE",
            help="Quantize the model weights (F32, F16 or BF16) with llama.cpp to TYPE: "
            f"{', '.join(TYPES)}. Quantizing the same weights again comes from a cache.",
        ),
    ] = None,
    requantize: Annotated[
        bool,
        typer.Option(
            "--requantize",
            help="Let --quantize quantize weights that are quantized already (with a warning: "
            "quality is lost twice).",
        ),
    ] = False,
    draft_quantize: Annotated[
        str | None,
        typer.Option(
            "--draft-quantize",
            metavar="TYPE",
            help="Quantize the DRAFT model's weights (F32, F16 or BF16) to TYPE, as --quantize "
            "does the model's.",
        ),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            metavar="URL",
            help="Build on the ladle server at URL (e.g. http://gpu-box:11434) instead of in "
            "the local store: local files the Modelfile names are uploaded first. No lock.",
        ),
    ] = None,
) -> None:
    """Build an image from a Modelfile and tag it NAME.

    FROM may name an image in the store, a GGUF file (relative to the Modelfile), a
    folder with one GGUF, a bundled model (smollm2:135m, gemma3:270m), or a GGUF on
    Hugging Face (hf.co/<user>/<repo>[:<quant>]). Every input it resolved is recorded in
    Modelfile.lock beside the Modelfile.

    With --host, the server builds it (as 'ollama create' does against OLLAMA_HOST): a
    FROM file or folder and the ADAPTER files are uploaded to the server's blob store,
    anything else FROM names is resolved by the server. Modelfile.lock is not used.

    Example: ladle create sre-bot -f examples/sre-bot/Modelfile
    Example: ladle create my-model:q4 -f Modelfile --quantize Q4_K_M
    Example: ladle create sre-bot -f examples/sre-bot/Modelfile --host http://127.0.0.1:11434
    """
    from builder.pipeline.build import LockMode, build_file
    from builder.pipeline.options import BuildOptions
    from ladle.cli.progress import ProgressBars

    if locked and no_lock:
        raise typer.BadParameter("use --locked or --no-lock, not both", param_hint="--locked")
    if host is not None:
        quantized = (quantize, draft_quantize)
        _create_on(host, name, file, quantized, locked=locked, requantize=requantize)
        return
    lock: LockMode = "locked" if locked else "off" if no_lock else "write"
    settings = Settings.from_environment()
    options = BuildOptions(
        quantize=quantize, requantize=requantize, draft_quantize=draft_quantize, hub=settings.hub
    )
    target = ModelName.parse(name)
    with ProgressBars() as bars:
        store = Store(settings.models)
        digest = build_file(file, target.display(), store, bars.update, lock, options)
    typer.echo(f"created {target.display()} ({_short(digest)})")


def _create_on(
    host: str,
    name: str,
    file: Path,
    quantize: tuple[str | None, str | None],
    *,
    locked: bool,
    requantize: bool,
) -> None:
    """``ladle create --host``: :func:`runtime.remote_create.create_on_server`;
    ``quantize`` is the model's and the draft's type."""
    from ladle.cli.progress import ProgressBars
    from ladle.cli.serve import client_for
    from ladle.settings import parse_host
    from runtime.remote_create import create_on_server

    for flag, given in (("--locked", locked), ("--requantize", requantize)):
        if given:
            raise typer.BadParameter(f"{flag} works on the local store only", param_hint=flag)
    try:
        address, port = parse_host(host)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--host") from None
    server = Settings.from_environment().model_copy(update={"host": address, "port": port})
    target = ModelName.parse(name).display()
    with client_for(server) as client, ProgressBars() as bars:
        create_on_server(client, target, file, bars.update, *quantize)
    typer.echo(f"created {target} on {client.url}")


def list_images() -> None:
    """List the images in the store: NAME, ID, SIZE, MODIFIED.

    Example: ladle list
    """
    store = _store()
    rows = [("NAME", "ID", "SIZE", "MODIFIED")]
    images = sorted(store.images(), key=lambda image: image.modified, reverse=True)
    for stored in images:
        size = stored.manifest.size
        rows.append(
            (
                stored.name.display(),
                _short(stored.digest),
                human_bytes(size),
                human_time(stored.modified),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        typer.echo(
            "    ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def show(
    name: Annotated[str, typer.Argument(help="The image to describe.")],
    modelfile: Annotated[
        bool, typer.Option("--modelfile", help="Print a Modelfile that rebuilds it.")
    ] = False,
    template: Annotated[bool, typer.Option("--template", help="Print the chat template.")] = False,
    parameters: Annotated[bool, typer.Option("--parameters", help="Print the parameters.")] = False,
    system: Annotated[bool, typer.Option("--system", help="Print the system prompt.")] = False,
    license_: Annotated[bool, typer.Option("--license", help="Print the license.")] = False,
) -> None:
    """Describe an image: model facts, parameters, system prompt, license.

    Example: ladle show sre-bot --modelfile
    """
    from builder.store.image import Image

    image = Image.load(_store(), ModelName.parse(name))
    if modelfile:
        typer.echo(image.modelfile(), nl=False)
    elif template:
        typer.echo(image.template or "")
    elif parameters:
        typer.echo(_parameter_lines(image))
    elif system:
        typer.echo(image.system or "")
    elif license_:
        typer.echo("\n\n".join(image.licenses))
    else:
        typer.echo(_summary(image))


def cp(
    source: Annotated[str, typer.Argument(help="An existing image.")],
    destination: Annotated[str, typer.Argument(help="The new name.")],
) -> None:
    """Copy an image under a new name (no blob is copied).

    Example: ladle cp sre-bot sre-bot:backup
    """
    store = _store()
    target = ModelName.parse(destination)
    with store.in_use():  # so that 'ladle prune' cannot take the blobs meanwhile
        stored = store.get(ModelName.parse(source))
        with store.lock(target):
            store.put_manifest(target, stored.manifest)
    typer.echo(f"copied {stored.name.display()} to {target.display()}")


def rm(
    names: Annotated[list[str], typer.Argument(metavar="NAME...", help="Images to remove.")],
) -> None:
    """Remove images (their blobs stay until 'ladle prune').

    Example: ladle rm sre-bot:backup
    """
    store = _store()
    for text in names:
        name = ModelName.parse(text)
        with store.lock(name):
            store.delete(name)
        typer.echo(f"deleted {name.display()}")


def _summary(image: Image) -> str:
    config = image.config
    facts = [
        ("architecture", config.model_family),
        ("parameters", config.model_type),
        ("context length", str(config.context_length or "")),
        ("embedding length", str(config.embedding_length or "")),
        ("quantization", config.file_type),
    ]
    lines = ["  Model"] + [f"    {key:<20}{value}" for key, value in facts if value]
    lines += _draft_lines(image)
    lines += ["", "  Capabilities"] + [f"    {item}" for item in image.capabilities]
    if image.params:
        lines += ["", "  Parameters"] + [
            "    " + line for line in _parameter_lines(image).splitlines()
        ]
    if image.system:
        lines += ["", "  System", "    " + image.system.replace("\n", "\n    ")]
    if image.licenses:
        lines += ["", "  License", "    " + image.licenses[0].splitlines()[0]]
    return "\n".join(lines)


def _draft_lines(image: Image) -> list[str]:
    """The draft model for speculative decoding (DRAFT), when the image has one."""
    from builder.gguf.file import inspect_gguf  # its header says how it is quantized

    if image.draft is None:
        return []
    quantization = inspect_gguf(image.draft).file_type
    facts = [
        ("architecture", image.draft_architecture),
        ("quantization", quantization),
        ("blob", image.draft.name),
    ]
    return ["", "  Draft"] + [f"    {key:<20}{value}" for key, value in facts if value]


def _parameter_lines(image: Image) -> str:
    lines = []
    for key, value in image.params.items():
        for item in value if isinstance(value, list) else [value]:
            lines.append(f"{key:<20}{item!r}" if isinstance(item, str) else f"{key:<20}{item}")
    return "\n".join(lines)


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]
