"""The chat's slash commands (``/clear``, ``/set system …``): parsed here, purely, so the
app only acts on typed values."""

from __future__ import annotations

from dataclasses import dataclass

HELP = """\
Available commands:
  /set system TEXT           set the system message
  /set parameter NAME VALUE  set a model option (temperature, num_predict, …)
  /clear                     forget the conversation
  /help                      show this help
  /bye                       quit (also Ctrl+D)

Enter sends; Escape or Ctrl+C stops the answer being written."""


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
class Invalid:
    """A line starting with ``/`` that is no command; ``reason`` says why."""

    reason: str


Command = Clear | Help | Bye | SetSystem | SetParameter | Invalid

SIMPLE: dict[str, Command] = {"/clear": Clear(), "/help": Help(), "/?": Help(), "/bye": Bye()}


def parse_command(line: str) -> Command | None:
    """The command ``line`` spells, or ``None`` when it is a message to the model."""
    text = line.strip()
    if not text.startswith("/"):
        return None
    if text in SIMPLE:
        return SIMPLE[text]
    words = text.split(maxsplit=2)
    if words[0] == "/set":
        return _parse_set(words[1:])
    return Invalid(f"unknown command {words[0]!r}; /help lists them")


def _parse_set(words: list[str]) -> Command:
    if len(words) == 2 and words[0] == "system":
        return SetSystem(words[1])
    if len(words) == 2 and words[0] == "parameter":
        name, _, value = words[1].partition(" ")
        if value.strip():
            return SetParameter(name, parse_value(value.strip()))
    return Invalid("usage: /set system TEXT or /set parameter NAME VALUE")


def parse_value(text: str) -> int | float | str:
    """A parameter's value as the server expects it: a number when it reads as one."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
