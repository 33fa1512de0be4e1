"""Fill in the middle: the prompt for ``/api/generate`` with a ``suffix``.

A model writes the text between a prompt and a suffix in one of two ways, and an image
has the ``insert`` capability when it has either:

- **its Ollama template reads ``.Suffix``**, as the templates of CodeLlama, Qwen2.5-Coder,
  StarCoder2, CodeGemma and DeepSeek-Coder do (``{{ if .Suffix }}<PRE> {{ .Prompt }}
  <SUF>{{ .Suffix }} <MID>{{ else }}…``). Ollama then runs the template once on
  ``{Prompt, Suffix, Response: "", Think…}``: no system prompt, no messages
  (``server/routes.go``, ``GenerateHandler``; ``template.go``, ``Execute``). ladle runs
  the converted template the same way.
- **its vocabulary has fill-in-the-middle tokens** (llama.cpp's ``fim_pre``,
  ``fim_suf``, ``fim_mid``; found as llama.cpp finds them), which Ollama does not use:
  the prompt is then ``<prefix>prompt<suffix>suffix<middle>``, the order llama.cpp's
  ``/infill`` writes them in.

The template wins when an image has both, since it is what the image's author wrote.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from builder.templates.thinking import Think

if TYPE_CHECKING:  # Jinja loads only when a template is read or rendered
    from builder.templates.chat_template import ChatTemplate
    from builder.templates.go_values import GoMap

FimTokens = tuple[str, str, str]
"""The texts of a vocabulary's prefix, suffix and middle tokens."""


def takes_suffix(template: str | None) -> bool:
    """Whether ``template`` (Jinja as an image stores it) is a converted Ollama template
    that reads ``.Suffix``: Ollama's ``insert`` capability."""
    if template is None:
        return False
    from builder.templates.go_template import CONVERTED_MARKER

    return template.startswith(CONVERTED_MARKER) and _reads_suffix(template)


def supports_insert(template: str | None, tokens: FimTokens | None) -> bool:
    """Whether a model with this template and these FIM tokens can fill in the middle."""
    return tokens is not None or takes_suffix(template)


def fill_in(
    template: ChatTemplate,
    tokens: FimTokens | None,
    prompt: str,
    suffix: str,
    think: Think = None,
) -> str | None:
    """The prompt that asks the model for the text between ``prompt`` and ``suffix``;
    ``None`` when neither the template nor the vocabulary can say it."""
    if takes_suffix(template.source):
        from builder.templates.go_values import GoMap, think_values

        root = GoMap(Prompt=prompt, Suffix=suffix, Response="", **think_values(think))
        return _render_once(template, root)
    if tokens is not None:
        prefix_token, suffix_token, middle_token = tokens
        return f"{prefix_token}{prompt}{suffix_token}{suffix}{middle_token}"
    return None


def _render_once(template: ChatTemplate, root: GoMap) -> str:
    """``template`` run once, whole, on ``root``, as Go runs a template.

    A converted template in messages mode reads its root from ``ollama``. One in legacy
    mode runs once per turn of ``ollama_turns``: whole for every turn but the last, and
    cut after ``{{ .Response }}`` for the last (Ollama's way of leaving the answer
    open). Run on ``[root, root]`` it writes the whole render then the cut one, and on
    ``[root]`` the cut one alone: what the first leaves beyond the second is the whole.
    """
    if "ollama_turns" not in template.source:
        return _render(template, root, ())
    both, cut = _render(template, root, (root, root)), _render(template, root, (root,))
    return both[: len(both) - len(cut)] if both.endswith(cut) else cut


def _render(template: ChatTemplate, root: GoMap, turns: Sequence[GoMap]) -> str:
    from builder.templates.go_funcs import GoFunctions

    extra: dict[str, Any] = {"ollama": root, "ollama_turns": turns, "go": GoFunctions()}
    return template.render([], **extra)


@functools.lru_cache(maxsize=64)
def _reads_suffix(source: str) -> bool:
    """Whether the Jinja ``source`` reads a ``Suffix`` field anywhere (the converter
    writes a Go field ``.Suffix`` as an attribute; literal text never is one)."""
    import jinja2
    from jinja2 import nodes

    try:
        tree = jinja2.Environment().parse(source)
    except jinja2.TemplateSyntaxError:
        return False
    return any(node.attr == "Suffix" for node in tree.find_all(nodes.Getattr))
