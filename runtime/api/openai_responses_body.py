"""The body of ``POST /v1/responses``, and what it asks of the service.

The request becomes a :class:`~runtime.api.schemas.ChatBody`: ``instructions`` the
system turn, the ``input`` items the conversation (:mod:`.openai_responses_input`; after
the conversation of ``previous_response_id``, whose instructions are not carried over,
as OpenAI defines it), ``tools`` and ``tool_choice`` as on ``/v1/chat/completions``
(:mod:`runtime.api.tool_choice`), ``reasoning.effort`` the ``think`` level,
``max_output_tokens`` ``num_predict``, ``text.format`` the ``format``, ``truncation``
Ollama's ``truncate`` (``"disabled"``, OpenAI's default: a conversation longer than the
context is a 400).

Every field ladle does not implement is refused by name when it holds a value (null is
taken as absent), among them ``background``, ``conversation`` and ``prompt``; a field
this module does not know at all is refused the same way, never dropped.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from ladle.errors import InvalidFieldError
from runtime.api.openai import think_of
from runtime.api.openai_responses_answer import Shape
from runtime.api.openai_responses_input import chat_tools, conversation, namespaced
from runtime.api.schemas import QUESTION, ChatBody, FormatField, TopLogprobsField
from runtime.api.tool_choice import ToolChoice, read_tool_choice

Summary = Literal["auto", "concise", "detailed"]
ENCRYPTED_REASONING = "reasoning.encrypted_content"
OUTPUT_LOGPROBS = "message.output_text.logprobs"
INCLUDABLE = (ENCRYPTED_REASONING, OUTPUT_LOGPROBS)
"""The ``include`` values ladle answers; the others are about hosted tools it lacks."""
METADATA_KEYS = 16
EXAMPLES: list[JsonValue] = [
    {"model": "sre-bot", "input": QUESTION},
    {
        "model": "sre-bot",
        "instructions": "Answer in one line.",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": QUESTION}]}],
        "max_output_tokens": 16,
        "stream": True,
    },
]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class Reasoning(_Part):
    effort: str | None = Field(None, description="none, minimal, low, medium, high, xhigh")
    summary: Summary | None = None
    generate_summary: Summary | None = Field(None, description="Deprecated: `summary`.")
    context: Literal["auto"] | None = Field(
        None, description="Only `auto`: the template decides which turns' reasoning it shows."
    )
    mode: Literal["standard"] | None = None


class TextFormat(_Part):
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    description: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None

    def format(self) -> FormatField:
        if self.type != "json_schema":
            return "json" if self.type == "json_object" else None
        if self.schema_ is None:
            raise InvalidFieldError("text.format.schema", "a json_schema format needs a schema")
        return self.schema_


class TextConfig(_Part):
    format: TextFormat | None = None
    verbosity: Literal["medium"] | None = Field(
        None, description="Only `medium`: ladle cannot make a model terser or wordier."
    )


class StreamOptions(_Part):
    include_obfuscation: bool | None = None


class ResponsesBody(BaseModel):
    """``POST /v1/responses``."""

    model_config = ConfigDict(
        extra="allow",  # kept to be refused by name (check), not dropped
        strict=True,  # "stream": "yes" is a 400, not true, as JSON types are for OpenAI
        frozen=True,
        json_schema_extra={"examples": EXAMPLES},
    )

    model: str
    input: str | list[dict[str, Any]] = ""
    instructions: str | None = None
    previous_response_id: str | None = None
    store: bool | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_tool_calls: int | None = Field(None, ge=1)
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    top_logprobs: TopLogprobsField | None = None
    reasoning: Reasoning | None = None
    text: TextConfig | None = None
    truncation: Literal["auto", "disabled"] | None = None
    include: list[str] | None = None
    service_tier: Literal["auto", "default"] | None = None
    background: bool | None = None
    metadata: dict[str, str] | None = Field(None, max_length=METADATA_KEYS)
    # Echoed, asking nothing of generation: OpenAI routes by prompt_cache_key to a warm
    # cache, and ladle's runner reuses a cached prefix for every request anyway.
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    user: str | None = None
    client_metadata: dict[str, Any] | None = Field(
        None, description="Codex's: which thread and turn ask; changes nothing, not repeated."
    )

    def check(self) -> None:
        """Refuse the fields ladle does not implement, naming the first."""
        extras = (key for key, value in (self.model_extra or {}).items() if value is not None)
        if refused := sorted(extras):
            raise InvalidFieldError(refused[0], "ladle does not implement this field")
        if self.background:
            raise InvalidFieldError("background", "ladle answers in the foreground only")
        for number, value in enumerate(self.include or ()):
            if value not in INCLUDABLE:
                known = " and ".join(INCLUDABLE)
                raise InvalidFieldError(f"include.{number}", f"ladle includes only {known}")
        if not self.input and self.previous_response_id is None:
            raise InvalidFieldError("input", "give the conversation: a string or input items")

    @property
    def keeps(self) -> bool:
        """Whether the answer is kept for ``previous_response_id`` (OpenAI's default)."""
        return self.store is not False

    def items(self) -> list[dict[str, Any]]:
        """``input`` as items: a string is one user message."""
        if isinstance(self.input, str):
            return [{"role": "user", "content": self.input}] if self.input else []
        return list(self.input)

    def choice(self) -> ToolChoice:
        """What ``tool_choice`` and ``parallel_tool_calls`` ask (:mod:`.tool_choice`)."""
        tools, choice = chat_tools(self.tools), self.tool_choice
        if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
            tools, choice = _allowed(tools, choice)
        return read_tool_choice(choice, tools, self.parallel_tool_calls)

    def to_chat(self, items: list[dict[str, Any]], choice: ToolChoice) -> ChatBody:
        """The chat the service answers, over the conversation's ``items``."""
        messages = conversation(items)
        if self.instructions:
            messages.insert(0, {"role": "system", "content": self.instructions})
        effort = self.reasoning.effort if self.reasoning else None
        return ChatBody(
            model=self.model,
            messages=messages,
            tools=choice.prompt_tools(list(choice.tools) or None),
            format=self.text.format.format() if self.text and self.text.format else None,
            options={
                "num_predict": self.max_output_tokens,
                "temperature": self.temperature,
                "top_p": self.top_p,
            },
            think=think_of(effort, "reasoning.effort"),
            logprobs=self.shape().logprobs,
            top_logprobs=self.top_logprobs or 0,
            shift=False,  # OpenAI's max_output_tokens stop at the context's end
            truncate=self.truncation == "auto",
        )

    def shape(self) -> Shape:
        """How the answer is written (:class:`~.openai_responses_answer.Shape`)."""
        reasoning = self.reasoning or Reasoning()
        include = self.include or ()
        return Shape(
            summary=(reasoning.summary or reasoning.generate_summary) is not None,
            encrypted=ENCRYPTED_REASONING in include,
            logprobs=OUTPUT_LOGPROBS in include or bool(self.top_logprobs),
            obfuscate=bool(self.stream_options and self.stream_options.include_obfuscation),
            namespaced=namespaced(self.tools),
        )

    def echo(self) -> dict[str, Any]:
        """The request's settings, as the response object repeats them."""
        reasoning = self.reasoning or Reasoning()
        text = self.text or TextConfig()
        text_format = (
            text.format.model_dump(by_alias=True, exclude_none=True) if text.format else None
        )
        return {
            "model": self.model,
            "instructions": self.instructions,
            "previous_response_id": self.previous_response_id,
            "tools": self.tools or [],
            "tool_choice": self.tool_choice or "auto",
            "parallel_tool_calls": self.parallel_tool_calls is not False,
            "max_tool_calls": self.max_tool_calls,
            "max_output_tokens": self.max_output_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_logprobs": self.top_logprobs,
            "reasoning": {
                "effort": reasoning.effort,
                "summary": reasoning.summary or reasoning.generate_summary,
            },
            "text": {"format": text_format or {"type": "text"}, "verbosity": "medium"},
            "truncation": self.truncation or "disabled",
            "store": self.keeps,
            "background": False,
            "service_tier": "default",
            "metadata": self.metadata or {},
            "prompt_cache_key": self.prompt_cache_key,
            "safety_identifier": self.safety_identifier,
            "user": self.user,
        }


def _allowed(
    tools: list[dict[str, Any]] | None, choice: dict[str, Any]
) -> tuple[list[dict[str, Any]] | None, str]:
    """``allowed_tools``: the tools it lists, and its mode (``auto`` or ``required``)."""
    mode, listed = choice.get("mode"), choice.get("tools")
    if mode not in ("auto", "required"):
        raise InvalidFieldError("tool_choice.mode", 'must be "auto" or "required"')
    if not isinstance(listed, list):
        raise InvalidFieldError("tool_choice.tools", "must be a list of tools")
    names = {tool.get("name") for tool in listed if isinstance(tool, dict)}
    kept = [tool for tool in tools or () if tool["function"]["name"] in names]
    if len(kept) != len(listed):
        raise InvalidFieldError("tool_choice.tools", "must name function tools of tools")
    return kept, mode
