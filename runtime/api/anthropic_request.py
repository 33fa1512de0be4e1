"""A Messages request (:mod:`runtime.api.anthropic_schemas`) as the service's
:class:`~runtime.api.schemas.ChatBody`.

- ``system`` (and a ``system`` message) becomes a system turn; text blocks are joined
  by newlines. Consecutive turns of one role are one turn, as Anthropic combines them.
- An assistant turn's ``tool_use`` blocks become its ``tool_calls``, its ``thinking``
  blocks its ``thinking``. A user turn's ``tool_result`` blocks become ``tool`` turns
  (``tool_call_id``, and ``tool_name`` from the call they answer) ahead of the turn's
  text, as Anthropic puts results first; ``is_error`` starts the result with "Error: ",
  since a template has no field for it. Images become the turn's ``images``, which the
  service refuses for a model that cannot read them (the block is named).
- A conversation that ends with an assistant turn asks Anthropic's "prefill" (continue
  that turn); ladle's templates close every turn, so it is refused, as Anthropic refuses
  it on models without prefill.
- ``tools`` become function tools; ``tool_choice`` is OpenAI's (:mod:`.tool_choice`):
  ``any`` is ``required``, ``tool`` a named function, ``disable_parallel_tool_use`` is
  ``parallel_tool_calls: false``. A tool's ``strict`` is kept only where a call is forced
  (the grammar holds it to its ``input_schema``); elsewhere it is refused.
- ``thinking`` and ``output_config.effort`` are ``think`` (:func:`think_of`); the
  thinking of earlier assistant turns is cleared as ``context_management``'s
  ``clear_thinking`` says, by default all but the last turn's, as Anthropic does.
- ``max_tokens`` is ``num_predict`` (thinking included, as at Anthropic); ``stop_sequences``
  are stops besides the image's own; ``shift`` and ``truncate`` are off, so a full
  context ends the answer and a prompt longer than the context is a 400.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from builder.templates.thinking import Think
from ladle.errors import InvalidFieldError
from runtime.api.anthropic_schemas import (
    Block,
    ChoiceAny,
    ChoiceNone,
    ChoiceTool,
    CountTokensBody,
    ImageBlock,
    MessagesBody,
    TextBlock,
    ThinkingBlock,
    ThinkingDisabled,
    ThinkingEnabled,
    ToolResultBlock,
    ToolUseBlock,
)
from runtime.api.schemas import ChatBody
from runtime.api.tool_choice import ToolChoice, read_tool_choice

EFFORTS: dict[str, Think] = {
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
    "max": "max",
}
"""``output_config.effort`` -> ladle's think level (Ollama's mapping: ladle has no level
between ``high`` and ``max``)."""
ERROR_PREFIX = "Error: "

Located = tuple[str, Block]
"""A content block and where it is in the request (``messages.2.content.0``)."""


@dataclass
class Conversation:
    """The turns of a request as the service takes them."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    first_image: str | None = None
    """Where the first image block is, to name it when images are refused."""
    calls: dict[str, str] = field(default_factory=dict)
    """Tool call ids seen so far -> the tool's name."""


def chat_body(
    body: MessagesBody, choice: ToolChoice, think: Think, image_stops: Sequence[str]
) -> tuple[ChatBody, Conversation]:
    """The service's request for ``body`` with its :func:`tool_choice` and
    :func:`think_of`; ``image_stops`` are the image's own stops, which
    ``stop_sequences`` add to."""
    conversation = read_conversation(body)
    _check_budget(body)
    output = body.output_config
    chat = ChatBody(
        model=body.model,
        messages=conversation.messages,
        tools=choice.prompt_tools(function_tools(body)),
        format=output.format.schema_ if output and output.format else None,
        options=_options(body, image_stops),
        think=think,
        logprobs=bool(body.stop_sequences),  # the tokens show which stop ended the answer
        shift=False,
        truncate=False,
    )
    return chat, conversation


def _options(body: MessagesBody, image_stops: Sequence[str]) -> dict[str, Any]:
    """Ollama's ``options`` for the sampling fields (``None``: the image's)."""
    stops = list(body.stop_sequences or ())
    return {
        "num_predict": body.max_tokens,
        "temperature": body.temperature,
        "top_p": body.top_p,
        "top_k": body.top_k,
        "stop": [*image_stops, *stops] if stops else None,
    }


def tool_choice(body: CountTokensBody) -> ToolChoice:
    """What ``tool_choice`` asks, in :mod:`runtime.api.tool_choice`'s terms."""
    chosen, tools = body.tool_choice, function_tools(body)
    parallel = not getattr(chosen, "disable_parallel_tool_use", False)
    value: str | dict[str, Any] = "auto"
    if isinstance(chosen, ChoiceAny):
        value = "required"
    elif isinstance(chosen, ChoiceTool):
        value = {"type": "function", "function": {"name": chosen.name}}
    elif isinstance(chosen, ChoiceNone):
        value = "none"
    choice = read_tool_choice(value, tools, parallel)
    _check_strict(body, choice)
    return choice


def function_tools(body: CountTokensBody) -> list[dict[str, Any]] | None:
    """``tools`` as the function tools the service takes."""
    if not body.tools:
        return None
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                **({"description": tool.description} if tool.description else {}),
                "parameters": tool.input_schema,
            },
        }
        for tool in body.tools
    ]


def think_of(body: CountTokensBody, reasons: bool, choice: ToolChoice) -> Think:
    """``thinking`` and ``output_config.effort`` as the service's ``think``, for a model
    that ``reasons`` or not, whose answer ``choice`` may force to call a tool.

    ``enabled`` thinks (a model that cannot is the service's 400); ``disabled`` does
    not; ``adaptive`` or none given is the model's default: a reasoning model thinks at
    ``effort``'s level, another does not, and effort has nothing to set in it (nor with
    thinking disabled). A forced call is not thought about: asked for with ``enabled``,
    it is refused, as Anthropic refuses it."""
    effort = body.output_config.effort if body.output_config else None
    level = EFFORTS[effort] if effort else None
    forced = choice.mode in ("required", "function")
    if isinstance(body.thinking, ThinkingEnabled):
        if forced:
            reason = "thinking cannot be enabled when tool_choice forces a tool call"
            raise InvalidFieldError("tool_choice", reason)
        return level or True
    if isinstance(body.thinking, ThinkingDisabled) or forced:
        return False
    return level if reasons else None


def read_conversation(body: CountTokensBody) -> Conversation:
    """The service's turns for ``system`` and ``messages``."""
    conversation = Conversation()
    if body.system:
        conversation.messages.append({"role": "system", "content": _joined(body.system)})
    numbered = list(enumerate(body.messages))
    for role, group in groupby(numbered, key=lambda item: item[1].role):
        blocks = [
            (f"messages.{number}.content.{index}", block)
            for number, message in group
            for index, block in enumerate(message.content)
        ]
        conversation.messages += _turns(role, blocks, conversation)
    _clear_thinking(conversation.messages, body.kept_thinking())
    if body.messages[-1].role == "assistant":
        raise InvalidFieldError(
            f"messages.{len(body.messages) - 1}",
            "the conversation ends with an assistant turn (prefill), which ladle cannot "
            "continue: its templates close every turn; end with a user turn",
        )
    return conversation


def _clear_thinking(turns: list[dict[str, Any]], kept: int | None) -> None:
    """The thinking of all but the last ``kept`` turns that thought (all: ``None``)
    taken out, as Anthropic's ``clear_thinking`` does before the prompt is made."""
    if kept is None:
        return
    thought = [turn for turn in turns if "thinking" in turn]
    for turn in thought[: max(len(thought) - kept, 0)]:
        del turn["thinking"]


def _turns(role: str, blocks: list[Located], conversation: Conversation) -> list[dict[str, Any]]:
    if role == "assistant":
        return [_assistant(blocks, conversation)]
    if role == "system":
        return [{"role": "system", "content": _joined(_only(blocks, TextBlock, "a system turn"))}]
    results = [_result(where, block, conversation) for where, block in _of(blocks, ToolResultBlock)]
    rest = [(where, block) for where, block in blocks if not isinstance(block, ToolResultBlock)]
    if not rest:
        return results
    user = {"role": "user", "content": _joined(_only(rest, (TextBlock, ImageBlock), "a user turn"))}
    return [*results, _with_images(user, rest, conversation)]


def _assistant(blocks: list[Located], conversation: Conversation) -> dict[str, Any]:
    _only(blocks, (TextBlock, ToolUseBlock, ThinkingBlock), "an assistant turn")
    turn: dict[str, Any] = {"role": "assistant", "content": _joined(blocks)}
    thinking = "".join(block.thinking for _, block in _of(blocks, ThinkingBlock))
    if thinking:
        turn["thinking"] = thinking
    calls = [block for _, block in _of(blocks, ToolUseBlock)]
    if calls:
        conversation.calls.update((call.id, call.name) for call in calls)
        turn["tool_calls"] = [_call(call) for call in calls]
    return turn


def _call(block: ToolUseBlock) -> dict[str, Any]:
    function = {"name": block.name, "arguments": block.input}
    return {"id": block.id, "type": "function", "function": function}


def _result(where: str, block: ToolResultBlock, conversation: Conversation) -> dict[str, Any]:
    name = conversation.calls.get(block.tool_use_id)
    if name is None:
        raise InvalidFieldError(
            f"{where}.tool_use_id",
            f"no tool_use block with id {block.tool_use_id!r} comes before this result",
        )
    parts = [(f"{where}.content.{index}", part) for index, part in enumerate(block.content)]
    content = _joined(parts)
    turn = {
        "role": "tool",
        "content": ERROR_PREFIX + content if block.is_error else content,
        "tool_call_id": block.tool_use_id,
        "tool_name": name,
    }
    return _with_images(turn, parts, conversation)


def _with_images(
    turn: dict[str, Any], blocks: Sequence[tuple[str, Any]], conversation: Conversation
) -> dict[str, Any]:
    """``turn`` with the images among ``blocks`` as its ``images`` (base64 data)."""
    images = list(_of(blocks, ImageBlock))
    for where, image in images:
        if image.source.type != "base64":
            raise InvalidFieldError(f"{where}.source", "ladle fetches no images; send base64 data")
        conversation.first_image = conversation.first_image or where
    if images:
        turn["images"] = [image.source.data for _, image in images]
    return turn


Kind = type[Any] | tuple[type[Any], ...]


def _of(blocks: Sequence[tuple[str, Any]], kind: Kind) -> Iterator[tuple[str, Any]]:
    return ((where, block) for where, block in blocks if isinstance(block, kind))


def _only(blocks: Sequence[Located], kind: Kind, turn: str) -> list[Located]:
    """``blocks``, all of them ``kind``, or the first that is not named in a 400."""
    for where, block in blocks:
        if not isinstance(block, kind):
            raise InvalidFieldError(where, f"a {block.type} block cannot be in {turn}")
    return list(blocks)


def _joined(blocks: Sequence[Any]) -> str:
    """The text of the text blocks among ``blocks`` (bare or located), one a line."""
    texts = (block[1] if isinstance(block, tuple) else block for block in blocks)
    return "\n".join(block.text for block in texts if isinstance(block, TextBlock))


def _check_strict(body: CountTokensBody, choice: ToolChoice) -> None:
    forced = choice.mode in ("required", "function")
    for number, tool in enumerate(body.tools or ()):
        if tool.strict and not forced:
            raise InvalidFieldError(
                f"tools.{number}.strict",
                "ladle holds a call to its input_schema only when tool_choice forces a "
                "call (any, or this tool)",
            )


def _check_budget(body: MessagesBody) -> None:
    thinking = body.thinking
    if isinstance(thinking, ThinkingEnabled) and thinking.budget_tokens >= body.max_tokens:
        raise InvalidFieldError(
            "thinking.budget_tokens", f"must be less than max_tokens ({body.max_tokens})"
        )
