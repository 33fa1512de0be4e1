"""Google's Gemma 4 renderers: ``gemma4``, ``gemma4-small`` and ``gemma4-large``
(Ollama's ``gemma4.go``).

Turns are ``<|turn>role … <turn|>``; a system turn opens the prompt when there is a
system message, tools (declared as :mod:`.gemma4_tools` writes them) or thinking, which
is asked for with ``<|think|>``. A model turn holds its reasoning in
``<|channel>thought … <channel|>`` (kept only after the last user turn), its calls as
``<|tool_call>call:name{…}<tool_call|>`` and, in the same turn, the results as
``<|tool_response>response:name{value:…}<tool_response|>``; consecutive assistant
messages continue one model turn. ``gemma4-large`` opens an empty thought block when
asked not to think.
"""

from __future__ import annotations

from dataclasses import dataclass

from builder.templates.renderers.gemma4_tools import declaration, value_text
from builder.templates.renderers.values import Message, Struct, ToolCall
from builder.templates.thinking import Think, thinks

BOS = "<bos>"


def strip_thinking(text: str) -> str:
    """The text without its ``<|channel>…<channel|>`` blocks (an unclosed one cuts the
    rest), trimmed."""
    kept = []
    while (start := text.find("<|channel>")) != -1:
        kept.append(text[:start])
        end = text.find("<channel|>", start)
        if end == -1:
            text = ""
            break
        text = text[end + len("<channel|>") :]
    return ("".join(kept) + text).strip()


def _call(call: ToolCall) -> str:
    pairs = ",".join(f"{key}:{value_text(call.arguments[key])}" for key in sorted(call.arguments))
    return f"<|tool_call>call:{call.name}{{{pairs}}}<tool_call|>"


def _result_name(result: Message, calls: tuple[ToolCall, ...]) -> str:
    """The name a result answers to: its call's (by id), else its ``tool_name``."""
    named = [call.name for call in calls if result.tool_call_id and call.id == result.tool_call_id]
    return named[0] if named else result.tool_name or "unknown"


def _next_role(turns: list[Message], index: int) -> str:
    return next((m.role for m in turns[index + 1 :] if m.role != "tool"), "")


@dataclass(frozen=True)
class Gemma4:
    """Ollama's ``Gemma4Renderer`` (``empty_block_on_nothink``: ``gemma4-large``)."""

    empty_block_on_nothink: bool = False

    def __call__(self, messages: list[Message], tools: list[Struct], think: Think) -> str:
        thinking = think is not None and thinks(think)
        has_system = bool(messages) and messages[0].role in ("system", "developer")
        turns = messages[1:] if has_system else messages
        out = [BOS]
        if has_system or tools or thinking:
            system = messages[0].content.strip() if has_system else ""
            declared = "".join(declaration(tool) for tool in tools)
            opening = "<|turn>system\n" + ("<|think|>\n" if thinking else "")
            out.append(f"{opening}{system}{declared}<turn|>\n")
        last_user = max((i for i, m in enumerate(turns) if m.role == "user"), default=-1)
        state, previous_role = "", ""
        for index, message in enumerate(turns):
            if message.role == "tool":
                continue
            text, state = self._turn(turns, index, last_user, previous_role)
            out.append(text)
            previous_role = message.role
        return "".join(out) + self._generation_prompt(state, thinking)

    def _generation_prompt(self, state: str, thinking: bool) -> str:
        if state not in ("tool_response", "tool_call"):
            empty = self.empty_block_on_nothink and not thinking
            return "<|turn>model\n" + ("<|channel>thought\n<channel|>" if empty else "")
        return "<|channel>thought\n" if state == "tool_response" and thinking else ""

    def _turn(
        self, turns: list[Message], index: int, last_user: int, previous_role: str
    ) -> tuple[str, str]:
        """A non-tool message's text (with the results that answer its calls) and what
        it leaves: ``tool_call``, ``tool_response`` or nothing."""
        message = turns[index]
        model = message.role == "assistant"
        text = (
            ""
            if model and previous_role == "assistant"
            else f"<|turn>{'model' if model else message.role}\n"
        )
        if model and message.thinking and index > last_user:
            text += f"<|channel>thought\n{message.thinking}\n<channel|>"
        text += "".join(_call(call) for call in message.tool_calls)
        state = "tool_call" if message.tool_calls else ""
        results = self._results(turns, index) if message.tool_calls else ""
        state = "tool_response" if results else state
        body = strip_thinking(message.content) if model else message.content.strip()
        text += results + body
        following = _next_role(turns, index)
        continues = model and following == "assistant" and (not message.tool_calls or bool(results))
        if state == "tool_call":
            return text + "<|tool_response>", state
        if not continues and not (results and not body.strip() and following == ""):
            text += "<turn|>\n"
        return text, state

    def _results(self, turns: list[Message], index: int) -> str:
        calls, out = turns[index].tool_calls, []
        for result in turns[index + 1 :]:
            if result.role != "tool":
                break
            name = _result_name(result, calls)
            out.append(
                f"<|tool_response>response:{name}{{value:{value_text(result.content)}}}<tool_response|>"
            )
        return "".join(out)
