"""The chat's slash commands (Ollama's REPL commands, plus ``/save-chat`` and
``/load-chat``): parsed here, purely, so that the app only acts on typed values; and
their completion, which the prompt shows as a suggestion while the user types."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

HELP = """\
Available commands:
  /set parameter NAME VALUE  set a model option (temperature, num_ctx, seed, …)
  /set system TEXT           set the system message
  /set format json           answer in JSON (/set noformat: free text again)
  /set think [LEVEL]         let a reasoning model think first: on (the default), off,
                             low, medium or high (/set nothink: off)
  /show TOPIC                info, modelfile, parameters, system, template or license
  /load [MODEL]              switch model (without MODEL: the model picker, also F3)
  /save NAME                 save the session as a new model (system, parameters, messages)
  /save-chat FILE            write the conversation as JSON (ladle render --messages reads it)
  /load-chat FILE            read a conversation written by /save-chat
  /image PATH                attach an image to the next message (PNG, JPEG, WebP, GIF;
                             dropping an image's path into the input does the same)
  /clear                     forget the conversation
  /help                      show this help (also F1)
  /bye                       quit (also Ctrl+D)

Enter sends; Ctrl+J, Alt+Enter or Shift+Enter (where the terminal tells it apart) starts
a new line, and so does Enter inside a \"\"\" block. Up and Down recall earlier messages;
Tab or Right accepts the suggested completion. Escape or Ctrl+C stops the answer being
written. F2 shows the side panel (system message, temperature, top_p, num_ctx, seed)."""

SHOW_TOPICS = ("info", "modelfile", "parameters", "system", "template", "license")


@functools.cache
def parameter_names() -> tuple[str, ...]:
    """The names ``/set parameter`` accepts: the Modelfile's PARAMETER names.

    Imported on first use: the modelfile package (Lark, pydantic) would otherwise add
    a few hundred milliseconds to the chat's start; the app warms it in a worker."""
    from modelfile.parameters import Parameters

    return tuple(Parameters.model_fields)


@dataclass(frozen=True)
class Clear:
    pass


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Bye:
    pass


@dataclass(frozen=True)
class SetSystem:
    text: str


@dataclass(frozen=True)
class SetParameter:
    name: str
    value: int | float | str


@dataclass(frozen=True)
class SetFormat:
    """``/set format json``; ``format`` is ``None`` for ``/set noformat``."""

    format: str | None


@dataclass(frozen=True)
class SetThink:
    """``/set think [on|off|low|medium|high]`` and ``/set nothink``: Ollama's ``think``
    (``True``/``False`` or a level)."""

    think: bool | str


THINK_VALUES: dict[str, bool | str] = {
    "on": True,
    "true": True,
    "off": False,
    "false": False,
    "low": "low",
    "medium": "medium",
    "high": "high",
}


@dataclass(frozen=True)
class Show:
    topic: str


@dataclass(frozen=True)
class Load:
    """``/load MODEL``; ``model`` is ``None`` for the picker."""

    model: str | None


@dataclass(frozen=True)
class Save:
    name: str


@dataclass(frozen=True)
class SaveChat:
    path: str


@dataclass(frozen=True)
class LoadChat:
    path: str


@dataclass(frozen=True)
class AttachImage:
    """``/image PATH``: the path may hold spaces."""

    path: str


@dataclass(frozen=True)
class Invalid:
    """A line starting with ``/`` that is no command; ``reason`` says why."""

    reason: str


Command = (
    Clear
    | Help
    | Bye
    | SetSystem
    | SetParameter
    | SetFormat
    | SetThink
    | Show
    | Load
    | Save
    | SaveChat
    | LoadChat
    | AttachImage
    | Invalid
)

SIMPLE: dict[str, Command] = {
    "/clear": Clear(),
    "/help": Help(),
    "/?": Help(),
    "/bye": Bye(),
    "/exit": Bye(),
    "/load": Load(None),
    "/set noformat": SetFormat(None),
    "/set think": SetThink(True),
    "/set nothink": SetThink(False),
}

ONE_ARGUMENT: dict[str, Callable[[str], Command]] = {
    "/load": Load,
    "/save": Save,
    "/save-chat": SaveChat,
    "/load-chat": LoadChat,
}

USAGE = {
    "/set": "usage: /set parameter NAME VALUE, /set system TEXT, /set format json or "
    "/set think [on|off|low|medium|high]",
    "/show": f"usage: /show {'|'.join(SHOW_TOPICS)}",
    "/load": "usage: /load [MODEL]",
    "/save": "usage: /save NAME",
    "/save-chat": "usage: /save-chat FILE",
    "/load-chat": "usage: /load-chat FILE",
    "/image": "usage: /image PATH",
}


def parse_command(line: str) -> Command | None:
    """The command ``line`` spells, or ``None`` when it is a message to the model."""
    text = line.strip()
    if not text.startswith("/"):
        return None
    if text in SIMPLE:
        return SIMPLE[text]
    verb, _, rest = text.partition(" ")
    rest = rest.strip()
    if verb == "/set":
        return _parse_set(rest)
    if verb == "/show":
        return Show(rest) if rest in SHOW_TOPICS else Invalid(USAGE[verb])
    if verb == "/image":
        return AttachImage(rest) if rest else Invalid(USAGE[verb])
    if verb in ONE_ARGUMENT:
        return ONE_ARGUMENT[verb](rest) if rest and " " not in rest else Invalid(USAGE[verb])
    return Invalid(f"unknown command {verb!r}; /help lists them")


def _parse_set(rest: str) -> Command:
    what, _, value = rest.partition(" ")
    value = value.strip()
    if what == "system" and value:
        return SetSystem(value)
    if what == "format" and value:
        return SetFormat(value) if value == "json" else Invalid("/set format takes json")
    if what == "think" and value:
        chosen = THINK_VALUES.get(value.lower())
        if chosen is None:
            return Invalid(f"/set think takes one of: {', '.join(THINK_VALUES)}")
        return SetThink(chosen)
    if what == "parameter" and value:
        name, _, setting = value.partition(" ")
        if name not in parameter_names():
            known = ", ".join(parameter_names())
            return Invalid(f"unknown parameter {name!r}; one of: {known}")
        if setting.strip():
            return SetParameter(name, parse_value(setting.strip()))
    return Invalid(USAGE["/set"])


def parse_value(text: str) -> int | float | str:
    """A parameter's value as the server expects it: a number when it reads as one."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def completions(models: Iterable[str] = ()) -> list[str]:
    """Every line the prompt may suggest, in the order it prefers them."""
    lines = ["/set parameter ", "/set system ", "/set format json", "/set noformat"]
    lines += ["/set think ", *(f"/set think {value}" for value in THINK_VALUES), "/set nothink"]
    lines += [f"/set parameter {name} " for name in parameter_names()]
    lines += [f"/show {topic}" for topic in SHOW_TOPICS]
    lines += ["/load ", *(f"/load {model}" for model in models)]
    lines += ["/save ", "/save-chat ", "/load-chat ", "/image ", "/clear", "/help", "/bye"]
    return lines


def suggest(text: str, models: Iterable[str] = ()) -> str:
    """What to add to ``text`` (a line being typed) to reach the first completion it
    starts; ``""`` when none does."""
    if not text.startswith("/") or "\n" in text:
        return ""
    for line in completions(models):
        if line.startswith(text) and len(line) > len(text):
            return line[len(text) :]
    return ""
