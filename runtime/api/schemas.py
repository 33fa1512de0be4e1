"""The JSON bodies of Ollama's ``/api`` requests, with Ollama's field names.

Fields Ollama accepts but ladle does not use yet (``think``) are read and ignored, as
Ollama ignores fields it does not know; unknown fields are ignored too, so that newer
clients keep working.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from ladle.errors import InvalidFieldError
from runtime.protocol import MAX_TOP_LOGPROBS

KeepAliveField = str | int | float | None
TokenId = Annotated[int, Field(ge=0)]
TopLogprobsField = Annotated[int, Field(ge=0, le=MAX_TOP_LOGPROBS)]
FormatField = str | dict[str, Any] | None


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


def examples(*bodies: dict[str, Any]) -> ConfigDict:
    """A body model's config with ``bodies`` as its examples in ``/openapi.json`` (which
    the schemathesis test sends too, so they must stay valid)."""
    return ConfigDict(extra="ignore", frozen=True, json_schema_extra={"examples": list(bodies)})


QUESTION = "How do I find the process using port 8080?"


class _Generation(_Body):
    """The fields ``/api/generate`` and ``/api/chat`` share."""

    stream: bool = True
    format: FormatField = None
    options: dict[str, Any] | None = None
    keep_alive: KeepAliveField = None
    think: bool | str | None = None
    logprobs: bool = False
    top_logprobs: TopLogprobsField = 0
    shift: bool | None = Field(
        None,
        description="Ollama's `shift`: when the answer fills the context, drop the oldest "
        "tokens after `num_keep` and go on (the default, null); false ends the answer "
        "there with done_reason `length`.",
    )
    truncate: bool | None = Field(
        None,
        description="Ollama's `truncate`: a prompt longer than the context loses its oldest "
        "tokens after `num_keep` (the default, null); false makes it a 400 instead.",
    )


class GenerateBody(_Generation):
    """``POST /api/generate``."""

    model_config = examples(
        {"model": "sre-bot", "prompt": QUESTION, "stream": False},
        {"model": "sre-bot", "prompt": QUESTION, "options": {"temperature": 0, "num_predict": 8}},
        {"model": "sre-bot", "prompt": "", "keep_alive": 0},
        {"model": "sre-bot", "prompt": "and in Go?", "context": [1, 2, 3], "stream": False},
        {"model": "sre-bot", "prompt": QUESTION, "logprobs": True, "top_logprobs": 3},
    )

    model: str
    prompt: str = ""
    suffix: str | None = None
    system: str | None = None
    template: str | None = None
    context: list[TokenId] | None = Field(
        None,
        description="Deprecated by Ollama: an earlier answer's `context` (token ids) to "
        "continue from; each id must be in the model's vocabulary.",
    )
    raw: bool = False
    images: list[str] | None = None


class ChatBody(_Generation):
    """``POST /api/chat``."""

    model_config = examples(
        {"model": "sre-bot", "messages": [{"role": "user", "content": QUESTION}]},
        {"model": "sre-bot", "messages": [{"role": "user", "content": "hi"}], "format": "json"},
    )

    model: str
    messages: list[dict[str, Any]] = Field(default_factory=list)
    tools: list[dict[str, Any]] | None = None


class EmbedBody(_Body):
    """``POST /api/embed``: one text or several."""

    model_config = examples({"model": "sre-bot", "input": ["one text", "another"]})

    model: str
    input: str | list[str] = ""
    truncate: bool = True
    options: dict[str, Any] | None = None
    keep_alive: KeepAliveField = None
    dimensions: int | None = Field(None, gt=0)

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


class EmbeddingsBody(_Body):
    """``POST /api/embeddings``, the older single-text endpoint."""

    model: str
    prompt: str = ""
    options: dict[str, Any] | None = None
    keep_alive: KeepAliveField = None


class NamedBody(_Body):
    """``/api/show`` and ``/api/delete``: ``model``, or ``name`` from older clients."""

    model: str = ""
    name: str = ""
    verbose: bool = False

    def target(self) -> str:
        chosen = self.model or self.name
        if not chosen:
            raise InvalidFieldError("model", "a model name is required")
        return chosen


class CopyBody(_Body):
    """``POST /api/copy``."""

    source: str
    destination: str
