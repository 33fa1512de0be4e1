"""The ``glimmer`` renderer (Ollama's ``glimmer.go``).

Messages are ``<|start|>header<|message|>content`` ending in ``<|eot|>`` (end of turn)
or ``<|eom|>`` (end of one message of a turn that goes on). The header names the
recipient: reasoning goes ``assistant to=self``, the answer ``assistant to=user``, each
call ``assistant to=name`` with its arguments in an ``<atem:function_calls>`` block,
and a result comes back as ``tool name``. The system message states how hard to reason
(``Reasoning strength: low|medium|high|none``) and lists the tools as JSON schemas;
without a system message of the conversation's own, a default one carries the
knowledge cutoff and today's date.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from builder.templates.renderers.values import Message, Struct, go_json, go_sprint, with_spaces
from builder.templates.thinking import Think, thinks

BOS = "<|begin_of_text|>"
DEFAULT_SYSTEM = "You are a helpful AI assistant."
KNOWLEDGE_CUTOFF = "2026-01-04"
_EOT, _EOM = "<|eot|>", "<|eom|>"
_TOOLS_PREFIX = """In this environment you have access to a set of tools you can use to answer the user's question.

You can invoke a function by writing a "<atem:function_calls>" block like the following:
<atem:function_calls>
<atem:invoke name="$FUNCTION_NAME">
<atem:parameter name="$PARAMETER_NAME">$PARAMETER_VALUE</atem:parameter>
...
</atem:invoke>
</atem:function_calls>

String and scalar parameters should be specified as is, while lists and objects should use JSON format. Note that spaces for string values are not stripped. The output is not expected to be valid XML and is parsed with regular expressions.
Here are the functions available in JSONSchema format:
// Tool metadata
"""  # noqa: E501 -- the model's own instructions, one paragraph a line
_TOOLS_SUFFIX = """

Here's an example of how to call a function in the tool set:
(If the tool namespace is not specified, invoke the function directly as `example_function_name` rather than `example_tool_name.example_function_name`)

to=example_tool_name.example_function_name

<atem:function_calls>
<atem:invoke name="example_tool_name.example_function_name">
<atem:parameter name="example_parameter_1">value_1</atem:parameter>
<atem:parameter name="example_parameter_2">This is the value for the second parameter
that can span
"multiple" lines
</atem:parameter>
</atem:invoke>
</atem:function_calls>"""  # noqa: E501
_EFFORT_WORDS = (
    ("Reasoning effort", "Reasoning strength"),
    ("Reasoning Effort", "Reasoning Strength"),
    ("reasoning effort", "reasoning strength"),
    ("REASONING EFFORT", "REASONING STRENGTH"),
)


def glimmer_json(value: Any) -> str:
    """The template's ``tojson``: spaced JSON, HTML characters as they are."""
    return with_spaces(go_json(value, escape_html=False))


def strength(think: Think) -> str:
    """How hard the model is told to reason: ``high`` unless ``think`` says otherwise."""
    if think is None:
        return "high"
    if not thinks(think):
        return "none"
    return think if isinstance(think, str) else "high"


def _namespaces(tools: list[Struct]) -> list[str]:
    """The tools' namespaces (a name's part before its first dot), once each, in order."""
    return list(dict.fromkeys(str(tool["function"]["name"]).split(".")[0] for tool in tools))


def _tool_definitions(tools: list[Struct]) -> str:
    namespaces = "".join(
        f'{{"name": {glimmer_json(name)}, "description": ""}}\n' for name in _namespaces(tools)
    )
    schemas = "".join(
        f'\n{{"name": {glimmer_json(tool["function"]["name"])}, '
        f'"description": {glimmer_json(tool["function"].get("description", ""))}, '
        f'"parameters": {glimmer_json(tool["function"]["parameters"])}}}'
        for tool in tools
    )
    return _TOOLS_PREFIX + namespaces + "// Function schemas" + schemas + _TOOLS_SUFFIX


def _normalized(content: str) -> str:
    """A system message's "reasoning effort" in the model's words ("reasoning strength")."""
    for effort, strength_word in _EFFORT_WORDS:
        content = content.replace(effort, strength_word)
    return content


def _argument(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping | list | tuple):
        return glimmer_json(value)
    return go_sprint(value)


def _call(name: str, arguments: Struct) -> str:
    parameters = "".join(
        f'<atem:parameter name="{key}">{_argument(value)}</atem:parameter>\n'
        for key, value in arguments.items()
    )
    return (
        f'<|start|>assistant to={name}<|message|><atem:function_calls>\n<atem:invoke name="{name}">'
        f"\n{parameters}</atem:invoke>\n</atem:function_calls>"
    )


def _result_name(message: Message, messages: list[Message]) -> str:
    """The tool a result comes from: its ``tool_name``, else the name of the (last) call
    with its id, else the id itself."""
    if message.tool_name or not message.tool_call_id:
        return message.tool_name or message.tool_call_id
    names = [c.name for m in messages for c in m.tool_calls if c.id == message.tool_call_id]
    return names[-1] if names else message.tool_call_id


@dataclass(frozen=True)
class Glimmer:
    """Ollama's ``GlimmerRenderer``; ``current_date`` (``YYYY-MM-DD``) pins the default
    system message's date, which is otherwise the local date of the render."""

    current_date: str = ""

    def __call__(self, messages: list[Message], tools: list[Struct], think: Think) -> str:
        effort = strength(think)
        out = [BOS]
        if not any(message.role == "system" for message in messages):
            out.append(self._system(DEFAULT_SYSTEM, tools, effort, default=True))
        for index, message in enumerate(messages):
            following = messages[index + 1].role if index + 1 < len(messages) else ""
            end = _EOM if following == message.role else _EOT
            out.append(self._message(message, messages, tools, effort, end))
        return "".join(out) + "<|start|>assistant"

    def _system(self, content: str, tools: list[Struct], effort: str, *, default: bool) -> str:
        text = "<|start|>system<|message|>"
        if default:
            today = self.current_date or datetime.date.today().isoformat()
            text += f"{content}\nKnowledge cutoff: {KNOWLEDGE_CUTOFF}.\nCurrent date: {today}."
        else:
            content = _normalized(content)
            text += content
        if default or "reasoning strength" not in content.lower():
            text += f"\n\nReasoning strength: {effort}."
        text += "\n\n" + _tool_definitions(tools) if tools else ""
        recipients = "".join(f', "{name}.*"' for name in _namespaces(tools))
        return text + f'\n\n# Valid recipients: "self"{recipients}, "user".' + _EOT

    def _message(
        self, message: Message, messages: list[Message], tools: list[Struct], effort: str, end: str
    ) -> str:
        if message.role == "system":
            return self._system(message.content, tools, effort, default=False)
        if message.role == "user":
            return f"<|start|>user<|message|>{message.content}{_EOT}"
        if message.role == "tool":
            name = _result_name(message, messages)
            output = f'<tool_output name="{name}">\n{message.content}\n</tool_output>'
            return f"<|start|>tool {name}<|message|>{output}{_EOT}"
        if message.role != "assistant":
            return ""
        text = (
            f"<|start|>assistant to=self<|message|>{message.thinking}{_EOM}"
            if message.thinking
            else ""
        )
        calls = message.tool_calls
        for index, call in enumerate(calls):
            text += _call(call.name, call.arguments) + (end if index + 1 == len(calls) else _EOM)
        if not calls and (message.content or not message.thinking):
            text += f"<|start|>assistant to=user<|message|>{message.content}{_EOT}"
        return text
