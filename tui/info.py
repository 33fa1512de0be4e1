"""What ``/show TOPIC`` prints, from the model's ``/api/show`` and the session's own
settings (which override the model's, as in Ollama's REPL)."""

from __future__ import annotations

from typing import Any

from tui.session import Session

Json = dict[str, Any]


def describe(show: Json, topic: str, session: Session) -> str:
    """The text of ``/show topic`` (one of :data:`tui.commands.SHOW_TOPICS`)."""
    if topic == "info":
        return _info(show)
    if topic == "parameters":
        return _parameters(show, session)
    if topic == "system":
        return session.system or str(show.get("system") or "") or "No system message was set."
    if topic == "template":
        return str(show.get("template") or "") or "No prompt template was specified."
    if topic == "license":
        return str(show.get("license") or "") or "No license was specified."
    return str(show.get("modelfile") or "")


def _info(show: Json) -> str:
    details, facts = show.get("details") or {}, show.get("model_info") or {}
    architecture = str(facts.get("general.architecture") or details.get("family") or "")
    rows = [
        ("architecture", architecture),
        ("parameters", details.get("parameter_size")),
        ("context length", facts.get(f"{architecture}.context_length")),
        ("embedding length", facts.get(f"{architecture}.embedding_length")),
        ("quantization", details.get("quantization_level")),
    ]
    lines = ["Model"] + [f"  {name:<18}{value}" for name, value in rows if value not in (None, "")]
    lines += ["", "Capabilities"] + [f"  {name}" for name in show.get("capabilities") or []]
    return "\n".join(lines)


def _parameters(show: Json, session: Session) -> str:
    lines = []
    if session.options:
        lines += ["User defined parameters:"]
        lines += [f"  {name:<18}{value}" for name, value in session.options.items()]
    if show.get("parameters"):
        lines += ["Model defined parameters:", str(show["parameters"])]
    return "\n".join(lines) or "No parameters were specified for this model."
