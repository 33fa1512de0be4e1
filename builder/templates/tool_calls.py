"""Tool calls written into generated text, read back as structured calls.

A model asked to call tools writes the calls into its reply in the form its chat
template taught it. Four forms are read:

=========  ==========================================================================
format     what the model writes
=========  ==========================================================================
hermes     ``<tool_call>{"name": …, "arguments": {…}}</tool_call>``, once or several
           times (Hermes, Qwen 2.5 and 3); a closing tag missing at the very end of
           the output, or cut short there (``</tool_c``), is tolerated
llama3     ``<|python_tag|>{"name": …, "parameters": {…}}``, or that JSON object bare
           as the whole output (Llama 3.1 to 3.3); several calls separated by ``;``
mistral    ``[TOOL_CALLS] [{"name": …, "arguments": {…}}, …]``, or the newer
           ``[TOOL_CALLS]name[ARGS]{…}`` (optionally ``name[CALL_ID]id[ARGS]{…}``)
json       the whole output is one call object or a list of them, with ``name`` and
           ``arguments`` or ``parameters`` (any other template that takes tools)
=========  ==========================================================================

Arguments given as a JSON string are decoded. Parsing never raises: markup whose JSON
does not read as calls stays in the content, word for word. The text around the calls
is kept; the whitespace just after a call is dropped, and so is the trailing whitespace
of the content once a call was found (so that ``"Sure.\\n<tool_call>…</tool_call>\\n"``
leaves ``"Sure."``). :class:`~builder.templates.tool_call_stream.ToolCallStream` applies the same
rules to text that arrives in chunks.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

#: Keys a call object may hold its arguments under (Llama 3 writes ``parameters``).
_ARGUMENT_KEYS = ("arguments", "parameters")

_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"\s*")


class ToolCall(BaseModel):
    """One call of a tool: its name and its arguments, decoded."""

    model_config = ConfigDict(frozen=True)

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)

    def to_ollama(self) -> dict[str, Any]:
        """Ollama's ``api.ToolCall``: ``{"function": {"name", "arguments": {…}}}``."""
        return {"function": {"name": self.name, "arguments": self.arguments}}

    def to_openai(self, call_id: str) -> dict[str, Any]:
        """An OpenAI ``tool_calls`` entry; its ``arguments`` are a JSON string."""
        arguments = json.dumps(self.arguments, ensure_ascii=False, separators=(",", ":"))
        return {
            "id": call_id,
            "type": "function",
            "function": {"name": self.name, "arguments": arguments},
        }


@dataclass(frozen=True)
class ParsedOutput:
    """Generated text split into what is shown as content and the tool calls."""

    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)


@dataclass(frozen=True)
class CallLayout:
    """How a format writes calls, for a grammar that makes a model write them: the
    ``opening``, each call object between ``before`` and ``after``, ``separator`` between
    calls, then the ``closing``; a call object holds its arguments under
    ``arguments_key``. :meth:`write` is the layout as text, which the format's parser
    reads back."""

    before: str = ""
    after: str = ""
    separator: str = ""
    opening: str = ""
    closing: str = ""
    arguments_key: str = "arguments"

    def call_object(self, call: ToolCall) -> dict[str, Any]:
        """The JSON object of one call in this layout."""
        return {"name": call.name, self.arguments_key: call.arguments}

    def write(self, calls: list[ToolCall]) -> str:
        """``calls`` as a model writing this layout writes them."""
        objects = (json.dumps(self.call_object(call), ensure_ascii=False) for call in calls)
        written = self.separator.join(f"{self.before}{text}{self.after}" for text in objects)
        return f"{self.opening}{written}{self.closing}"


class ToolCallParser:
    """Reads one format's tool calls out of generated text (see the module docstring)."""

    format: ClassVar[str]
    layout: ClassVar[CallLayout]
    """How calls are written in this format (what a forced call is made to look like)."""
    marker: ClassVar[str] = ""
    """The text that starts a call, wherever it appears in the output ("" for none)."""
    whole_output_starts: ClassVar[str] = ""
    """First characters of an output that may be nothing but bare call JSON."""

    def opens_bare_json(self, text: str) -> bool:
        """Whether an output that starts with ``text`` may be bare call JSON throughout."""
        first = text.lstrip()[:1]
        return bool(first) and first in self.whole_output_starts

    def parse(self, text: str) -> ParsedOutput:
        """The content and tool calls of the complete output ``text``."""
        if self.opens_bare_json(text):
            calls = self._read_whole(text)
            if calls:
                return ParsedOutput("", calls)
        pieces: list[str] = []
        calls = []
        position = search = 0
        while self.marker and (start := text.find(self.marker, search)) >= 0:
            found = self._read(text, start)
            if found is None:  # not a call after all: the marker stays in the content
                search = start + len(self.marker)
                continue
            pieces.append(text[position:start])
            calls.extend(found[0])
            position = search = _skip_space(text, found[1])
        pieces.append(text[position:])
        content = "".join(pieces)
        return ParsedOutput(content.rstrip() if calls else content, calls)

    def _read(self, text: str, start: int) -> tuple[list[ToolCall], int] | None:
        """The calls of the markup at ``start`` and where it ends, or ``None``."""
        return None

    def _read_whole(self, text: str) -> list[ToolCall] | None:
        """The calls when the whole of ``text`` is bare call JSON, else ``None``."""
        return None


class HermesParser(ToolCallParser):
    """``<tool_call>{json}</tool_call>``, as Hermes and Qwen write it."""

    format = "hermes"
    marker = "<tool_call>"
    layout = CallLayout(before="<tool_call>\n", after="\n</tool_call>", separator="\n")
    _CLOSE = "</tool_call>"

    def _read(self, text: str, start: int) -> tuple[list[ToolCall], int] | None:
        body = start + len(self.marker)
        close = text.find(self._CLOSE, body)
        # A reply cut off by a stop sequence or the token limit may lack the closing tag,
        # or end in the middle of it (``</tool_c``): either way the call runs to the end.
        if close < 0:
            body_end = end = len(text)
            body_end -= partial_marker(text, self._CLOSE)
        else:
            body_end, end = close, close + len(self._CLOSE)
        calls = _calls_in(text[body:body_end], need_arguments=False)
        return None if calls is None else (calls, end)


class Llama3Parser(ToolCallParser):
    """``<|python_tag|>{json}; {json}`` or the bare JSON, as Llama 3.1 to 3.3 write it."""

    format = "llama3"
    marker = "<|python_tag|>"
    layout = CallLayout(separator="; ", arguments_key="parameters")  # bare JSON
    whole_output_starts = "{"

    def _read(self, text: str, start: int) -> tuple[list[ToolCall], int] | None:
        return _read_sequence(text, start + len(self.marker), need_arguments=False)

    def _read_whole(self, text: str) -> list[ToolCall] | None:
        # Bare JSON must name its arguments, so that a reply that merely is a JSON
        # object with a "name" (a user asked for one) is not taken for a call.
        found = _read_sequence(text, 0, need_arguments=True)
        if found is None or _skip_space(text, found[1]) != len(text):
            return None
        return found[0]


class MistralParser(ToolCallParser):
    """``[TOOL_CALLS] [{json}, …]`` or ``[TOOL_CALLS]name[ARGS]{json}``, as Mistral writes."""

    format = "mistral"
    marker = "[TOOL_CALLS]"
    layout = CallLayout(separator=", ", opening="[TOOL_CALLS] [", closing="]")
    _NAMED = re.compile(r"([\w.\-]+)(?:\[CALL_ID\][\w\-]*)?\[ARGS\]")

    def _read(self, text: str, start: int) -> tuple[list[ToolCall], int] | None:
        position = _skip_space(text, start + len(self.marker))
        named = self._NAMED.match(text, position)
        if named is None:  # the older form: a JSON list (or object) of calls
            found = _decode_at(text, position)
            calls = None if found is None else _calls_from(found[0], need_arguments=False)
            return None if found is None or calls is None else (calls, found[1])
        found = _decode_at(text, named.end())
        arguments = None if found is None else _arguments(found[0])
        if found is None or arguments is None:
            return None
        return [ToolCall(name=named.group(1), arguments=arguments)], found[1]


class JsonParser(ToolCallParser):
    """The whole output is a call object or a list of them (no markup at all)."""

    format = "json"
    whole_output_starts = "{["
    layout = CallLayout(separator=", ", opening="[", closing="]")

    def _read_whole(self, text: str) -> list[ToolCall] | None:
        return _calls_in(text, need_arguments=True)


_PARSERS: dict[str, ToolCallParser] = {
    parser.format: parser
    for parser in (HermesParser(), Llama3Parser(), MistralParser(), JsonParser())
}

#: The names of the formats, as :func:`parser_for_format` takes them.
FORMATS = tuple(_PARSERS)


def parser_for_format(name: str) -> ToolCallParser:
    """The parser of the format ``name`` (one of :data:`FORMATS`); raises ``ValueError``."""
    try:
        return _PARSERS[name]
    except KeyError:
        raise ValueError(
            f"unknown tool-call format {name!r}; known: {', '.join(FORMATS)}"
        ) from None


def partial_marker(text: str, marker: str) -> int:
    """The length of the longest end of ``text`` that is a start of ``marker`` (and not
    all of it): how much of a marker a cut-off text may end with."""
    for length in range(min(len(marker) - 1, len(text)), 0, -1):
        if text.endswith(marker[:length]):
            return length
    return 0


def enclosed(text: str, start: int, closing: str) -> tuple[int, int]:
    """Where a call's body that starts at ``start`` ends, and where the call ends: at
    ``closing``; for a call cut off by a stop or the token limit, at the text's end (less
    the start of ``closing`` it may end with)."""
    close = text.find(closing, start)
    if close >= 0:
        return close, close + len(closing)
    return len(text) - partial_marker(text, closing), len(text)


def _skip_space(text: str, position: int) -> int:
    match = _SPACE.match(text, position)
    return position if match is None else match.end()


def _decode_at(text: str, position: int) -> tuple[Any, int] | None:
    """The JSON value that starts at ``position`` (after whitespace) and where it ends."""
    try:
        return _DECODER.raw_decode(text, _skip_space(text, position))
    except (ValueError, RecursionError):  # malformed, or nested deeper than Python recurses
        return None


def _calls_in(text: str, *, need_arguments: bool) -> list[ToolCall] | None:
    """The calls when all of ``text`` is one call object or a list of them."""
    found = _decode_at(text, 0)
    if found is None or _skip_space(text, found[1]) != len(text):
        return None
    return _calls_from(found[0], need_arguments=need_arguments)


def _read_sequence(
    text: str, position: int, *, need_arguments: bool
) -> tuple[list[ToolCall], int] | None:
    """Call objects separated by ``;`` from ``position`` on, and where the last ends."""
    calls: list[ToolCall] = []
    while True:
        found = _decode_at(text, position)
        call = None if found is None else _call_from(found[0], need_arguments=need_arguments)
        if found is None or call is None:
            return None
        calls.append(call)
        position = _skip_space(text, found[1])
        if not text.startswith(";", position):
            return calls, found[1]
        position += 1


def _calls_from(value: Any, *, need_arguments: bool) -> list[ToolCall] | None:
    """The calls of a decoded call object or non-empty list of them; ``None`` if any is
    not a call."""
    items = value if isinstance(value, list) else [value]
    calls = [_call_from(item, need_arguments=need_arguments) for item in items]
    if not calls or None in calls:
        return None
    return [call for call in calls if call is not None]


def _call_from(value: Any, *, need_arguments: bool) -> ToolCall | None:
    """The call a decoded JSON value describes, or ``None`` when it is not one."""
    if isinstance(value, dict) and "name" not in value and isinstance(value.get("function"), dict):
        value = value["function"]  # OpenAI's and Ollama's own shape, echoed by the model
    if not isinstance(value, dict) or not isinstance(name := value.get("name"), str) or not name:
        return None
    key = next((key for key in _ARGUMENT_KEYS if key in value), None)
    if key is None:
        return None if need_arguments else ToolCall(name=name)
    arguments = _arguments(value[key])
    return None if arguments is None else ToolCall(name=name, arguments=arguments)


def _arguments(value: Any) -> dict[str, Any] | None:
    """Arguments as an object: a JSON string is decoded, ``null`` and ``""`` are none."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, str):
        found = _decode_at(value, 0)
        if found is None or _skip_space(value, found[1]) != len(value):
            return None
        value = found[0]
    return value if isinstance(value, dict) else None


#: Text in a chat template that shows the form its model writes calls in, most telling
#: first. A template is what the model was trained with, so it outranks the family name.
_TEMPLATE_MARKERS = (
    ("[TOOL_CALLS]", "mistral"),
    ("<|python_tag|>", "llama3"),
    ("<tool_call>", "hermes"),
)

#: Parts of a template-family name (``template_families.json``, or a name a Modelfile
#: or a model's metadata gives) and the format its models write calls in.
_FAMILY_FORMATS = (
    ("llama3", "llama3"),
    ("llama-3", "llama3"),
    ("mistral", "mistral"),
    ("qwen", "hermes"),
    ("hermes", "hermes"),
    ("chatml", "hermes"),
)

#: A template that takes tools names them: Jinja's ``tools``, Go's ``.Tools``.
_TAKES_TOOLS = re.compile(r"tools|tool_calls|ToolCalls", re.IGNORECASE)


def parser_for_family(family: str | None, template: str | None) -> ToolCallParser | None:
    """The parser for a model's output, from its template-family name and its chat
    template (Jinja or Go); ``None`` when the template takes no tools, or when neither
    tells a format.

    A call marker in the template decides; else the family name; else a template that
    takes tools gets the bare-JSON ``json`` format.
    """
    if template is not None:
        marked = next((fmt for marker, fmt in _TEMPLATE_MARKERS if marker in template), None)
        if marked is not None:
            return _PARSERS[marked]
        if _TAKES_TOOLS.search(template) is None:
            return None
    name = (family or "").lower()
    named = next((fmt for part, fmt in _FAMILY_FORMATS if part in name), None)
    if named is not None:
        return _PARSERS[named]
    return _PARSERS["json"] if template is not None else None
