"""``ladle render``: print the exact prompt an image or a Modelfile makes of a conversation.

The builder (Jinja, GGUF reading) and llama.cpp (to count tokens) are imported inside
the command, so that the rest of the CLI starts fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ladle.errors import ConversationError
from ladle.settings import Settings

_MESSAGES_HELP = (
    'A JSON conversation: a list of {role, content} messages, or {"messages": [...]} '
    "(what the TUI's /save-chat writes); '-' reads standard input. Default: one user "
    "turn, 'Hello!'."
)


def render(
    target: Annotated[
        str,
        typer.Argument(
            metavar="NAME|Modelfile", help="An image in the store, or a Modelfile to render."
        ),
    ],
    messages: Annotated[
        str | None, typer.Option("--messages", "-m", metavar="FILE", help=_MESSAGES_HELP)
    ] = None,
    tools: Annotated[
        Path | None,
        typer.Option("--tools", metavar="FILE", help='A JSON list of tools, or {"tools": [...]}.'),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help='Print {"prompt": ..., "tokens": N} instead.')
    ] = False,
    no_generation_prompt: Annotated[
        bool,
        typer.Option(
            "--no-generation-prompt", help="Leave out the opening of the assistant's turn."
        ),
    ] = False,
) -> None:
    """Print the exact prompt the model gets for a conversation, special tokens included.

    A Modelfile is rendered without building it: its FROM is resolved as 'ladle create'
    resolves it, and nothing is written. The image's SYSTEM comes first unless the
    conversation starts with a system message; its MESSAGE turns come before the
    conversation. The prompt is printed as it is, with no newline added.

    Example: ladle render examples/sre-bot/Modelfile --messages chat.json
    """
    from builder.pipeline.preview import load_prompt_source
    from builder.prompt import count_tokens
    from builder.store.store import Store
    from builder.templates.conversation import DEFAULT_CONVERSATION, parse_conversation, parse_tools

    conversation = list(DEFAULT_CONVERSATION)
    if messages is not None:
        conversation = parse_conversation(*_read(messages))
    tool_list = parse_tools(*_read(str(tools))) if tools is not None else None
    source = load_prompt_source(target, Store(Settings.from_environment().models))
    prompt = source.render(conversation, tool_list, add_generation_prompt=not no_generation_prompt)
    if not as_json:
        typer.echo(prompt, nl=False)
        return
    tokens = count_tokens(source.model_path, prompt) if source.model_path else None
    typer.echo(json.dumps({"prompt": prompt, "tokens": tokens}, ensure_ascii=False))


def _read(name: str) -> tuple[str, str]:
    """A file's text, or standard input's for ``-``, and the name to show in errors."""
    if name == "-":
        return sys.stdin.read(), "<stdin>"
    try:
        return Path(name).read_text(encoding="utf-8"), name
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ConversationError(name, f"cannot read: {reason}") from None
