"""One answer of ``POST /v1/messages`` in Anthropic's shapes: the ``message`` object, or,
streamed, its events.

A stream is ``message_start`` (the message with no content yet), a ``ping``, then per
content block ``content_block_start``, its deltas (``thinking_delta`` and one
``signature_delta``, ``text_delta``, or one ``input_json_delta`` with a tool call's whole
input) and ``content_block_stop``; then ``message_delta`` (``stop_reason``,
``stop_sequence`` and the usage) and ``message_stop``. The whole message is built by the
same code, so both carry the same blocks: the service's
:class:`~runtime.api.service.Reply` pieces in order, a run of thinking one ``thinking``
block, a run of text one ``text`` block, each tool call a ``tool_use`` block.

- ``stop_reason``: ``tool_use`` when the answer calls a tool; ``max_tokens`` when it
  generated ``max_tokens``; ``model_context_window_exceeded`` when the context filled
  first; ``stop_sequence`` (with ``stop_sequence``) when one of the request's ended it;
  ``end_turn`` otherwise. The runner cuts a stop string from the text it sends, so which
  one matched is read from the generated tokens' bytes (:class:`StopSequences`).
- ``usage``: ``input_tokens`` are the prompt tokens evaluated, ``cache_read_input_tokens``
  those reused from the runner's KV cache (Anthropic counts the two apart, and so does
  ladle: the runner reuses a prompt's cached prefix by itself), ``output_tokens`` those
  generated, thinking included. ``message_start`` cannot know the prompt's count yet (the
  runner reports it at the end) and says 0; ``message_delta`` carries every count.
- A thinking block's ``signature`` is the SHA-256 of its text: Anthropic's is a
  cryptographic seal only Anthropic can check; ladle has no secret to seal with, so it
  checks none sent back. ``display: "omitted"`` sends thinking blocks with no text.

Kept apart from :mod:`runtime.api.anthropic` because it is pure: replies in, plain dicts
out.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from builder.templates.tool_calls import ToolCall
from runtime.api.service import Reply
from runtime.protocol import GenerateChunk

Event = dict[str, Any]


class StopSequences:
    """Which of a request's stop sequences ended its answer. The runner stops at the
    first stop string that appears in the generated text (the request's or the image's)
    and leaves it out of the text; the tokens generated (their bytes, which the pieces
    carry when asked for logprobs) still hold it."""

    def __init__(self, requested: Sequence[str], image: Sequence[str]) -> None:
        self.requested, self.image = tuple(requested), tuple(image)
        self._generated = bytearray()

    def feed(self, reply: Reply) -> None:
        for entry in reply.logprobs:
            self._generated += bytes(entry.bytes)

    def matched(self) -> str | None:
        """The request's stop sequence that ended the answer, if one did."""
        text = self._generated.decode("utf-8", "replace")
        found = [
            (text.find(stop), rank, stop)
            for rank, stops in enumerate((self.requested, self.image))
            for stop in stops
            if stop and stop in text
        ]
        if not found:
            return None
        _, rank, stop = min(found)
        return stop if rank == 0 else None


class MessageAnswer:
    """One answer's id and model, the content blocks made so far, and the events and
    message its replies become."""

    def __init__(
        self,
        model: str,
        *,
        max_tokens: int,
        stops: StopSequences | None = None,
        show_thinking: bool = True,
    ) -> None:
        self.model, self.max_tokens, self.stops = model, max_tokens, stops
        self.show_thinking = show_thinking
        self.id = f"msg_{secrets.token_hex(12)}"
        self.blocks: list[dict[str, Any]] = []
        self._open: str | None = None
        """The kind of the last block while more of it may come: text or thinking."""
        self._thought = ""
        """The open thinking block's text (for its signature, even when not shown)."""
        self._ending: dict[str, Any] = {"stop_reason": None, "stop_sequence": None}
        self._usage: dict[str, int] = usage(GenerateChunk())

    def opening(self) -> Iterator[Event]:
        """``message_start`` and a ``ping``, before any content."""
        yield {"type": "message_start", "message": self.message() | {"content": []}}
        yield {"type": "ping"}

    def events(self, reply: Reply) -> Iterator[Event]:
        """The events of one piece; the last piece's end the message."""
        if self.stops is not None:
            self.stops.feed(reply)
        if reply.thinking:
            yield from self._delta("thinking", reply.thinking)
        if reply.text:
            yield from self._delta("text", reply.text)
        for call in reply.tool_calls:
            yield from self._tool_use(call)
        if reply.done:
            yield from self._close()
            self._end(reply)
            yield {"type": "message_delta", "delta": dict(self._ending), "usage": self._usage}
            yield {"type": "message_stop"}

    def whole(self, replies: Iterable[Reply]) -> dict[str, Any]:
        """The message of every piece at once (a request that did not stream)."""
        for reply in replies:
            for _ in self.events(reply):
                pass
        return self.message()

    def message(self) -> dict[str, Any]:
        """The message as it stands."""
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": self.blocks,
            **self._ending,
            "usage": self._usage,
        }

    def _delta(self, kind: str, text: str) -> Iterator[Event]:
        if self._open != kind:
            yield from self._close()
            signed = {"signature": ""} if kind == "thinking" else {}
            yield self._start({"type": kind, kind: ""} | signed)
            self._open = kind
        if kind == "thinking":
            self._thought += text
            if not self.show_thinking:
                return
        self.blocks[-1][kind] += text
        yield self._delta_event(f"{kind}_delta", **{kind: text})

    def _tool_use(self, call: ToolCall) -> Iterator[Event]:
        yield from self._close()
        block = {"type": "tool_use", "id": f"toolu_{secrets.token_hex(12)}", "name": call.name}
        yield self._start(block | {"input": {}})
        self.blocks[-1]["input"] = call.arguments
        arguments = json.dumps(call.arguments, ensure_ascii=False, separators=(",", ":"))
        yield self._delta_event("input_json_delta", partial_json=arguments)
        yield self._block_event("content_block_stop")

    def _start(self, block: dict[str, Any]) -> Event:
        self.blocks.append(dict(block))
        return self._block_event("content_block_start", {"content_block": block})

    def _close(self) -> Iterator[Event]:
        """The open block's end: its signature first if it is thinking."""
        if self._open is None:
            return
        if self._open == "thinking":
            signature = hashlib.sha256(self._thought.encode()).hexdigest()
            self.blocks[-1]["signature"], self._thought = signature, ""
            yield self._delta_event("signature_delta", signature=signature)
        self._open = None
        yield self._block_event("content_block_stop")

    def _block_event(self, kind: str, fields: dict[str, Any] | None = None) -> Event:
        """An event of the last block."""
        return {"type": kind, "index": len(self.blocks) - 1, **(fields or {})}

    def _delta_event(self, kind: str, **delta: str) -> Event:
        return self._block_event("content_block_delta", {"delta": {"type": kind, **delta}})

    def _end(self, reply: Reply) -> None:
        final = reply.final or GenerateChunk()
        self._usage = usage(final)
        reason, matched = "end_turn", None
        if any(block["type"] == "tool_use" for block in self.blocks):
            reason = "tool_use"
        elif reply.done_reason == "length":
            full = final.eval_count < self.max_tokens
            reason = "model_context_window_exceeded" if full else "max_tokens"
        elif self.stops is not None and (matched := self.stops.matched()) is not None:
            reason = "stop_sequence"
        self._ending = {"stop_reason": reason, "stop_sequence": matched}


def usage(final: GenerateChunk) -> dict[str, int]:
    """Anthropic's ``usage`` of a runner's last chunk."""
    return {
        "input_tokens": final.prompt_evaluated,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": final.cached_tokens,
        "output_tokens": final.eval_count,
    }
