"""Chat templates: Jinja2 compiled once, rendered in a locked-down sandbox.

A template renders the way Hugging Face ``transformers`` renders ``chat_template``: in an
:class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` with ``trim_blocks`` and
``lstrip_blocks`` on, ``keep_trailing_newline`` left at Jinja's default (off), the
``loopcontrols`` extension (``{% break %}``, ``{% continue %}``), a pass-through
``{% generation %}`` tag, the globals ``raise_exception`` and ``strftime_now`` and a
``tojson`` filter that calls :func:`json.dumps` with ``ensure_ascii=False``. The variables
are ``messages``, ``tools``, ``add_generation_prompt``, ``bos_token``, ``eos_token`` and
any extra keyword a caller passes.

On top of the sandbox (which already refuses ``__class__``-style attribute walks and
mutation of lists and dicts, the CVE-2024-34359 class of payloads) every render has a
time limit and an output-size cap; see :mod:`builder.templates.sandbox`. Users only ever
see :class:`~ladle.errors.TemplateError`, never a raw ``jinja2`` exception.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2

from builder.templates.sandbox import RenderLimits, TemplateSandbox
from ladle.errors import TemplateError

#: The template used when neither the Modelfile, the base image nor the GGUF file gives
#: one: each message on its own line as ``role: content``, then ``assistant: `` when a
#: reply is wanted. Plain enough for any model, and visibly not a real chat format.
DEFAULT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ message['role'] }}: {{ message['content'] }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)

#: Jinja names the source of a template compiled from a string ``<template>``; the
#: frames of its traceback carry that file name and the template's own line numbers.
_TEMPLATE_FILENAME = "<template>"

_QUOTED = re.compile(r"'([^']+)'")


@dataclass(frozen=True)
class ChatTemplate:
    """A compiled chat template; :meth:`render` it as often as needed."""

    source: str
    origin: str | None
    limits: RenderLimits
    _environment: TemplateSandbox = field(repr=False, compare=False)
    _template: jinja2.Template = field(repr=False, compare=False)

    def render(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        add_generation_prompt: bool = True,
        bos_token: str = "",
        eos_token: str = "",
        **extra: Any,
    ) -> str:
        """The prompt for ``messages``; raises :class:`TemplateError` when the render fails."""
        variables = {
            "messages": messages,
            "tools": tools,
            "add_generation_prompt": add_generation_prompt,
            "bos_token": bos_token,
            "eos_token": eos_token,
            **extra,
        }
        try:
            return self._environment.render_limited(self._template, variables)
        except TemplateError as error:
            raise _located(error, self.origin) from None
        except Exception as error:  # every other failure is the template's fault
            raise _runtime_error(error, self.origin) from None


def compile_template(
    source: str, *, origin: str | None = None, limits: RenderLimits | None = None
) -> ChatTemplate:
    """Compile ``source`` once; a syntax error raises :class:`TemplateError` with the
    template's line and column, and ``origin`` (e.g. ``Modelfile:4``) when given."""
    environment = TemplateSandbox(limits or RenderLimits())
    try:
        template = environment.from_string(source)
    except jinja2.TemplateSyntaxError as error:
        line = error.lineno or 1
        raise TemplateError(
            f"syntax error: {error.message}",
            line=line,
            column=_estimate_column(source, line, error.message or ""),
            origin=origin,
        ) from None
    return ChatTemplate(source, origin, environment.limits, environment, template)


def _estimate_column(source: str, line: int, message: str) -> int:
    """Jinja reports no column: point at the quoted token of the message on that line,
    else at the first tag on the line, else at its start."""
    lines = source.splitlines()
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    for quoted in _QUOTED.findall(message):
        found = text.find(quoted)
        if found >= 0:
            return found + 1
    tags = [found for found in (text.find("{%"), text.find("{{")) if found >= 0]
    return min(tags) + 1 if tags else 1


def _runtime_error(error: BaseException, origin: str | None) -> TemplateError:
    """A :class:`TemplateError` for any exception raised while rendering."""
    if isinstance(error, jinja2.exceptions.SecurityError):
        reason = f"unsafe operation refused by the sandbox: {error}"
    elif isinstance(error, jinja2.TemplateError):
        reason = error.message or type(error).__name__
    else:
        reason = f"{type(error).__name__}: {error}"
    return TemplateError(reason, line=_template_line(error.__traceback__), origin=origin)


def _template_line(traceback: types.TracebackType | None) -> int | None:
    """The template line of the innermost traceback frame that belongs to the template."""
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == _TEMPLATE_FILENAME:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def _located(error: TemplateError, origin: str | None) -> TemplateError:
    """``error`` with the template line it was raised at and ``origin``, when it lacks them."""
    line = error.line if error.line is not None else _template_line(error.__traceback__)
    origin = error.origin or origin
    return TemplateError(error.reason, line=line, column=error.column, origin=origin)
