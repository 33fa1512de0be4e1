"""Template layers: what the builder stores for a TEMPLATE, a base's or a GGUF's template.

The stored text is always Jinja: an Ollama Go template is converted at build time, and
every template is compiled here, so that a broken one fails ``ladle create`` instead of
the first request.
"""

from __future__ import annotations

from builder.templates.chat_template import compile_template
from builder.templates.go_template import convert_go_template, is_go_template


def template_layer_text(source: str, origin: str | None = None) -> str:
    """The Jinja text to store for a template ``source`` (converted if it is Go)."""
    jinja = convert_go_template(source) if is_go_template(source) else source
    compile_template(jinja, origin=origin)
    return jinja
