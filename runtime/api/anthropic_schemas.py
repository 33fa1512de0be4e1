"""The JSON bodies of Anthropic's ``POST /v1/messages`` and
``POST /v1/messages/count_tokens``, with Anthropic's field names and checks.

A field they do not know is refused (a 400 that names it), and types are strict:
Anthropic's API refuses unknown fields itself, and a client that sends one
(``container``, ``mcp_servers``, a server tool…) asks for something ladle would otherwise
silently not do. A message's ``content`` may be a string, read as one text block.

A few fields are taken and do nothing, each for a reason said where it is declared
(``metadata``, ``service_tier``, ``cache_control``): they ask for things that exist at
Anthropic and are automatic or meaningless on one local server.
:mod:`runtime.api.anthropic_request` turns a body into the service's ``ChatBody``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

QUESTION = "How do I find the process using port 8080?"
MIN_THINKING_BUDGET = 1024
"""Anthropic's least ``thinking.budget_tokens``."""
TOOL_NAME = r"^[a-zA-Z0-9_-]{1,128}$"
"""A custom tool's name, as Anthropic restricts it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _examples(*bodies: dict[str, Any]) -> ConfigDict:
    """A body's config with ``bodies`` as its examples in ``/openapi.json``."""
    return ConfigDict(
        extra="forbid", strict=True, frozen=True, json_schema_extra={"examples": list(bodies)}
    )


class CacheControl(_Strict):
    """A prompt-cache breakpoint. Taken and needs nothing: the runner reuses the longest
    cached prefix of every prompt without being told where (``usage`` reports it as
    ``cache_read_input_tokens``)."""

    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] | None = None


class _Block(_Strict):
    cache_control: CacheControl | None = None


class TextBlock(_Block):
    type: Literal["text"]
    text: str
    citations: list[Any] | None = None

    @field_validator("citations")
    @classmethod
    def _no_citations(cls, value: list[Any] | None) -> list[Any] | None:
        if value:  # null or [] is what a client echoes from an answer without any
            raise ValueError("ladle reads no citations; send the text alone")
        return value


class Base64Source(_Strict):
    type: Literal["base64"]
    media_type: Literal["image/jpeg", "image/png", "image/gif", "image/webp"]
    data: str


class UrlSource(_Strict):
    type: Literal["url"]
    url: str


class ImageBlock(_Block):
    type: Literal["image"]
    source: Annotated[Base64Source | UrlSource, Field(discriminator="type")]


class ToolUseBlock(_Block):
    """A call the assistant made, sent back in its turn."""

    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any]


def _as_blocks(value: Any) -> Any:
    """A string where blocks may be given: one text block."""
    return [{"type": "text", "text": value}] if isinstance(value, str) else value


ResultPart = Annotated[TextBlock | ImageBlock, Field(discriminator="type")]


class ToolResultBlock(_Block):
    """A tool's answer, in a user turn."""

    type: Literal["tool_result"]
    tool_use_id: str
    content: Annotated[list[ResultPart], BeforeValidator(_as_blocks)] = Field(
        default_factory=list, description="A string, or text and image blocks."
    )
    is_error: bool = False


class ThinkingBlock(_Block):
    """The assistant's reasoning, sent back in its turn (``signature`` is what ladle
    answered with it, not checked: see :mod:`runtime.api.anthropic_answer`)."""

    type: Literal["thinking"]
    thinking: str
    signature: str = ""


Block = Annotated[
    TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock,
    Field(discriminator="type"),
]


class Message(_Strict):
    role: Literal["user", "assistant", "system"]
    content: Annotated[list[Block], BeforeValidator(_as_blocks)] = Field(
        min_length=1, description="A string (one text block), or content blocks."
    )


class Tool(_Strict):
    """A custom tool (Anthropic's server tools run at Anthropic, not here)."""

    name: str = Field(pattern=TOOL_NAME)
    input_schema: dict[str, Any]
    description: str | None = None
    type: str | None = None
    strict: bool | None = None
    cache_control: CacheControl | None = None

    @field_validator("type")
    @classmethod
    def _custom(cls, value: str | None) -> str | None:
        if value not in (None, "custom"):
            raise ValueError(
                f"{value!r} is one of Anthropic's server tools, which ladle does not run; "
                "give custom tools (name, description, input_schema)"
            )
        return value

    @field_validator("input_schema")
    @classmethod
    def _object(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("type") != "object":
            raise ValueError('a tool\'s input_schema must have "type": "object"')
        return value


class _Choice(_Strict):
    disable_parallel_tool_use: bool = False


class ChoiceAuto(_Choice):
    type: Literal["auto"]


class ChoiceAny(_Choice):
    type: Literal["any"]


class ChoiceTool(_Choice):
    type: Literal["tool"]
    name: str


class ChoiceNone(_Strict):
    type: Literal["none"]


ToolChoice = Annotated[
    ChoiceAuto | ChoiceAny | ChoiceTool | ChoiceNone, Field(discriminator="type")
]


class ThinkingEnabled(_Strict):
    type: Literal["enabled"]
    budget_tokens: int = Field(ge=MIN_THINKING_BUDGET)
    display: Literal["summarized", "omitted"] | None = None


class ThinkingAdaptive(_Strict):
    type: Literal["adaptive"]
    display: Literal["summarized", "omitted"] | None = None


class ThinkingDisabled(_Strict):
    type: Literal["disabled"]


Thinking = Annotated[
    ThinkingEnabled | ThinkingAdaptive | ThinkingDisabled, Field(discriminator="type")
]


class JsonFormat(_Strict):
    type: Literal["json_schema"]
    schema_: dict[str, Any] = Field(alias="schema")


class OutputConfig(_Strict):
    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None
    format: JsonFormat | None = None


class ThinkingTurns(_Strict):
    type: Literal["thinking_turns"]
    value: int = Field(ge=0)


class ClearThinking(_Strict):
    """Anthropic's thinking block clearing: only the last ``keep`` assistant turns that
    thought keep their thinking in the prompt (all of them for ``"all"``)."""

    type: Literal["clear_thinking_20251015"]
    keep: Literal["all"] | ThinkingTurns = ThinkingTurns(type="thinking_turns", value=1)


class ContextManagement(_Strict):
    """Anthropic's context editing. Tool result clearing (``clear_tool_uses_20250919``)
    is refused: it clears by a prompt's token count, which is not known before the
    prompt is rendered and tokenized in the runner."""

    edits: list[ClearThinking] = Field(default_factory=list)


class Metadata(_Strict):
    """Taken and unused: Anthropic keeps ``user_id`` to detect abuse of its service;
    ladle serves whoever may reach it (API keys say who, ``docs/security.md``)."""

    user_id: str | None = Field(None, max_length=256)


class CountTokensBody(_Strict):
    """``POST /v1/messages/count_tokens``: what a prompt holds, nothing generated."""

    model_config = _examples(
        {"model": "sre-bot", "messages": [{"role": "user", "content": QUESTION}]}
    )

    model: str
    messages: list[Message] = Field(min_length=1)
    system: Annotated[list[TextBlock], BeforeValidator(_as_blocks)] | None = Field(
        None, description="A string, or text blocks."
    )
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: Thinking | None = None
    output_config: OutputConfig | None = None
    context_management: ContextManagement | None = None
    cache_control: CacheControl | None = None

    def kept_thinking(self) -> int | None:
        """How many of the last assistant turns keep their thinking (``None``: all);
        Anthropic's default keeps the last one's."""
        edits = self.context_management.edits if self.context_management else []
        keep = edits[-1].keep if edits else ThinkingTurns(type="thinking_turns", value=1)
        return None if keep == "all" else keep.value


class MessagesBody(CountTokensBody):
    """``POST /v1/messages``."""

    model_config = _examples(
        {"model": "sre-bot", "max_tokens": 64, "messages": [{"role": "user", "content": QUESTION}]},
        {
            "model": "sre-bot",
            "max_tokens": 8,
            "system": "Answer in one line.",
            "messages": [{"role": "user", "content": "hello"}],
            "stream": True,
        },
    )

    max_tokens: int = Field(
        ge=0, description="The most tokens to generate; 0 evaluates (and caches) the prompt."
    )
    stop_sequences: list[str] | None = None
    stream: bool = False
    temperature: float | None = Field(None, ge=0, le=1)
    top_p: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=0)
    metadata: Metadata | None = None
    service_tier: Literal["auto", "standard_only"] | None = Field(
        None,
        description="Taken and unused: one local server has one tier, the standard one.",
    )
