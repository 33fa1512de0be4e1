"""Ollama Go templates -> Jinja, at build time; one render function for the runtime.

A TEMPLATE written for Ollama (``{{ .System }}``, ``{{- range .Messages }}``, ``$x :=``)
is recognised by :func:`is_go_template` and converted by :func:`convert_go_template`
into Jinja that :mod:`builder.templates.chat_template` compiles and renders in its sandbox. The
pipeline is lexer (:mod:`~builder.templates.go_lexer`), parser
(:mod:`~builder.templates.go_parser`) and Jinja writer (:mod:`~builder.templates.go_jinja`).

Ollama has two ways to execute a template (``template/template.go``, ``Execute``), and
the converter picks the same one Ollama would, from the names the template uses:

- **messages mode**, when ``.Messages`` (or ``.Document``) appears: the template runs
  once on ``{System, Messages, Tools, Response: "", Think, IsThinkSet…}``, where
  ``System`` joins every system message and ``Messages`` has consecutive messages of the
  same role merged (``collate``). The Jinja reads that root from the ``ollama`` variable.
- **legacy mode** otherwise (``.System``/``.Prompt``/``.Response``): Ollama splits the
  conversation into turns, runs the template once per completed turn, then once more on
  the last turn with everything after the first ``{{ .Response }}`` field deleted. The
  turns are computed in Python (:func:`~builder.templates.go_values.legacy_turns`) and
  passed as ``ollama_turns``; the Jinja holds the template twice, whole for each
  completed turn and cut for the last. As in Ollama, a template naming neither
  ``.Messages`` nor ``.Response`` gets ``{{ .Response }}`` appended.

The runtime renders every chat template, converted or not, with :func:`render_messages`,
which adds ``ollama``, ``ollama_turns`` and the ``go`` functions when the template is a
converted one (it starts with :data:`CONVERTED_MARKER`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from builder.templates.chat_template import ChatTemplate
from builder.templates.go_funcs import GoFunctions
from builder.templates.go_jinja import JinjaWriter, tag
from builder.templates.go_parser import (
    Action,
    Branch,
    Chain,
    Command,
    Expr,
    Field,
    Node,
    Pipe,
    Pos,
    Variable,
    parse,
)
from builder.templates.go_values import legacy_turns, messages_root
from builder.templates.thinking import Think, template_variables

#: The first characters of every converted template.
CONVERTED_MARKER = "{# ladle: converted from an Ollama Go template #}"

#: The last characters of every converted template. Jinja drops one newline that ends a
#: template's source (``keep_trailing_newline`` is off, as in transformers), so the Go
#: template's own last newline must not end the Jinja source; ``{#+`` keeps
#: ``lstrip_blocks`` off the spaces before it.
CONVERTED_END = "{#+ end of the converted template #}"

_GO_ACTION = re.compile(
    r"\{\{-?\s*(?:\.[A-Za-z_]|\.\s*-?\}\}|\$|/\*|(?:range|end|with|else|if|break|continue)\b)"
)
_JINJA_TAG = re.compile(r"\{%-?\s*(?:if|for|set|macro|raw|endif|endfor|generation)\b")
_GUARD = (
    tag("if ollama is not defined or go is not defined")
    + (
        '{{ raise_exception("a converted Ollama template must be rendered with '
        'builder.templates.go_template.render_messages") }}'
    )
    + tag("endif")
)


def is_go_template(source: str) -> bool:
    """Whether ``source`` is an Ollama Go template rather than a Jinja one."""
    return bool(_GO_ACTION.search(source)) and not _JINJA_TAG.search(source)


def convert_go_template(source: str) -> str:
    """The Jinja equivalent of the Go template ``source``; raises
    :class:`~ladle.errors.TemplateError` (with line and column) for syntax errors and
    constructs that cannot be converted."""
    nodes = parse(source)
    names = set(_identifiers(nodes))
    header = CONVERTED_MARKER + _GUARD + tag("set _ns = namespace()")
    if "messages" in names or "document" in names:
        return header + JinjaWriter("ollama").nodes(nodes) + CONVERTED_END
    if "response" not in names:
        nodes = [*nodes, _response_action()]
    whole = JinjaWriter("_turn").nodes(nodes)
    cut = JinjaWriter("_turn").nodes(_ResponseCut().nodes(nodes))
    return (
        header
        + tag("for _turn in ollama_turns[:-1]") + whole + tag("endfor")
        + tag("with _turn = ollama_turns[-1]") + cut + tag("endwith")
        + CONVERTED_END
    )  # fmt: skip


def is_converted(template: ChatTemplate) -> bool:
    """Whether ``template`` was produced by :func:`convert_go_template`."""
    return template.source.startswith(CONVERTED_MARKER)


def render_messages(
    template: ChatTemplate,
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None = None,
    *,
    think: Think = None,
    **extra: Any,
) -> str:
    """The prompt for ``messages`` with any chat template, converted or native Jinja;
    ``extra`` (``add_generation_prompt``, ``bos_token``…) goes to the template.
    ``think`` reaches a converted template as ``.Think``, ``.ThinkLevel`` and
    ``.IsThinkSet``, a Jinja one as the variables of
    :func:`~builder.templates.thinking.template_variables`."""
    if is_converted(template):
        # Only a legacy-mode conversion reads the turns (a sixth of a 20-message render).
        legacy = "ollama_turns" in template.source
        extra = {
            **extra,
            "ollama": messages_root(messages, tools, think),
            "ollama_turns": legacy_turns(messages, think) if legacy else (),
            "go": GoFunctions(),
        }
    else:
        extra = {**template_variables(think), **extra}
        messages = [_with_reasoning_content(message) for message in messages]
    return template.render(messages, tools=tools, **extra)


def _with_reasoning_content(message: Mapping[str, Any]) -> Mapping[str, Any]:
    """A message whose Ollama ``thinking`` (or ``reasoning``, as Ollama's OpenAI layer
    names it) is also ``reasoning_content``, the key Hugging Face templates (Qwen3's,
    DeepSeek's) read an earlier answer's reasoning from."""
    thinking = message.get("thinking") or message.get("reasoning")
    if not thinking or not isinstance(thinking, str) or message.get("reasoning_content"):
        return message
    return {**message, "reasoning_content": thinking}


def _response_action() -> Action:
    pos = Pos(0, 0)
    command = Command(pos, (Field(pos, ("Response",)),))
    return Action(pos, Pipe(pos, (), False, (command,)))


def _identifiers(nodes: Sequence[Node]) -> Iterator[str]:
    """Ollama's ``Identifiers``, lower-cased: field and variable names in actions and
    in the pipelines of ``if``/``range``/``with``, not inside parentheses with fields."""
    for node in nodes:
        if isinstance(node, Action):
            yield from _pipe_identifiers(node.pipe)
        elif isinstance(node, Branch):
            yield from _pipe_identifiers(node.pipe)
            yield from _identifiers(node.body)
            yield from _identifiers(node.orelse)


def _pipe_identifiers(pipe: Pipe) -> Iterator[str]:
    for command in pipe.commands:
        for arg in command.args:
            if isinstance(arg, Field):
                yield from (name.lower() for name in arg.names)
            elif isinstance(arg, Variable):
                yield from (name.lower() for name in (arg.name, *arg.names))
            elif isinstance(arg, Chain) and not arg.names:
                yield from _pipe_identifiers(arg.pipe)


class _ResponseCut:
    """Ollama's ``deleteNode``: keep everything up to the first ``.Response`` field of an
    action (walking actions' pipelines, not branch conditions), drop everything after."""

    def __init__(self) -> None:
        self.cut = False

    def nodes(self, nodes: Sequence[Node]) -> list[Node]:
        kept: list[Node] = []
        for node in nodes:
            if self.cut:
                break
            if isinstance(node, Action):
                pipe = self.pipe(node.pipe)
                kept.extend([replace(node, pipe=pipe)] if pipe is not None else [])
            elif isinstance(node, Branch):
                body = self.nodes(node.body)
                orelse = [] if self.cut else self.nodes(node.orelse)
                kept.append(replace(node, body=body, orelse=orelse))
            else:
                kept.append(node)
        return kept

    def pipe(self, pipe: Pipe) -> Pipe | None:
        commands = []
        for command in pipe.commands:
            args = [kept for arg in command.args if (kept := self.expr(arg)) is not None]
            if not args:
                return None
            commands.append(replace(command, args=tuple(args)))
        return replace(pipe, commands=tuple(commands))

    def expr(self, expr: Expr) -> Expr | None:
        if self.cut:
            return None
        if isinstance(expr, Field) and "Response" in expr.names:
            self.cut = True
        elif isinstance(expr, Chain) and not expr.names:
            pipe = self.pipe(expr.pipe)
            return None if pipe is None else replace(expr, pipe=pipe)
        return expr
