"""The JSON bodies of Ollama's ``/api`` requests, with Ollama's field names.

Every field a client sends is taken or refused by name, never dropped: an unknown field
is a 400 naming it (Ollama's decoder drops it, so a typo such as ``"strem": false`` goes
unnoticed there), and so is a value of the wrong JSON type (``"stream": "yes"``, a
``top_logprobs`` of ``2.5``): fields are strict, as Go's ``encoding/json`` decodes into
Ollama's typed structs. ``options`` are checked as they arrive
(:func:`runtime.api.options.check_request_options`: unknown options, integer ceilings).
Ollama's own request fields that ladle does not implement are refused, by name:
``_debug_render_only`` (an unknown field here), and ``/api/show``'s ``system``,
``template`` and ``options`` when given a value (:class:`NamedBody`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from builder.templates.thinking import THINK_LEVELS, Think
from ladle.errors import InvalidFieldError
from runtime.api.options import check_request_options
from runtime.protocol import MAX_TOP_LOGPROBS

KeepAliveField = str | int | float | None
TokenId = Annotated[int, Field(ge=0)]
TopLogprobsField = Annotated[int, Field(ge=0, le=MAX_TOP_LOGPROBS)]
FormatField = str | dict[str, Any] | None
_LEVELS = '"high", "medium", "low", "max", true, or false'
"""What Ollama says a ``think`` may be."""


def _think_value(value: Any) -> Any:
    """Ollama's ``ThinkValue``: a JSON boolean or one of its levels, nothing else (not
    ``"true"``, not ``1``), in Ollama's words."""
    if value is None or isinstance(value, bool) or value in THINK_LEVELS:
        return value
    if isinstance(value, str):
        raise ValueError(f"invalid think value: {json.dumps(value)} (must be {_LEVELS})")
    raise ValueError(f"think must be a boolean or string ({_LEVELS})")


ThinkField = Annotated[Think, BeforeValidator(_think_value)]


def _checked_options(options: dict[str, Any] | None) -> dict[str, Any] | None:
    check_request_options(options)  # InvalidOptionError, a 400 naming the option
    return options


OptionsField = Annotated[dict[str, Any] | None, AfterValidator(_checked_options)]
"""A request's ``options``: Ollama's option names, checked as the body is read."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def examples(*bodies: dict[str, Any]) -> ConfigDict:
    """A body model's config with ``bodies`` as its examples in ``/openapi.json`` (which
    the schemathesis test sends too, so they must stay valid)."""
    return ConfigDict(
        extra="forbid", strict=True, frozen=True, json_schema_extra={"examples": list(bodies)}
    )


QUESTION = "How do I find the process using port 8080?"


class _Generation(_Body):
    """The fields ``/api/generate`` and ``/api/chat`` share."""

    stream: bool = True
    format: FormatField = None
    options: OptionsField = None
    keep_alive: KeepAliveField = None
    think: ThinkField = Field(
        None,
        description='Ollama\'s `think`: true or false, or how hard to think ("low", '
        '"medium", "high", "max"); unset, a reasoning model thinks.',
    )
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
        description="Ollama's `truncate`: true makes a prompt longer than the context lose "
        "its oldest tokens after `num_keep`; without it (null, false) such a prompt is a 400 "
        "saying so (Ollama cuts by default).",
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
    options: OptionsField = None
    keep_alive: KeepAliveField = None
    dimensions: int | None = Field(None, gt=0)

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


class EmbeddingsBody(_Body):
    """``POST /api/embeddings``, the older single-text endpoint."""

    model: str
    prompt: str = ""
    options: OptionsField = None
    keep_alive: KeepAliveField = None


class NamedBody(_Body):
    """``/api/show`` and ``/api/delete``: ``model``, or ``name`` from older clients.

    Ollama's Go client sends its ``ShowRequest`` whole, so ``system``, ``template`` and
    ``options`` arrive empty with every show; Ollama would show the image as if they
    were its own, which ladle does not do: a value in any of them is refused by name.
    """

    model: str = ""
    name: str = ""
    verbose: bool = False
    system: str = Field("", description="Ollama's show override; refused unless empty.")
    template: str = Field("", description="Ollama's show override; refused unless empty.")
    options: dict[str, Any] | None = Field(
        None, description="Ollama's show override; refused unless empty."
    )

    @model_validator(mode="after")
    def _no_overrides(self) -> NamedBody:
        for field in SHOW_OVERRIDES:
            if getattr(self, field):
                raise InvalidFieldError(field, NOT_OVERRIDDEN)
        return self

    def target(self) -> str:
        chosen = self.model or self.name
        if not chosen:
            raise InvalidFieldError("model", "a model name is required")
        return chosen


SHOW_OVERRIDES = ("system", "template", "options")
"""``ShowRequest`` fields that ladle takes only empty."""
NOT_OVERRIDDEN = "ladle shows an image as it is stored; build one with this value to see it"


class CopyBody(_Body):
    """``POST /api/copy``."""

    source: str
    destination: str
