"""One answer of the ``/v1`` completion routes in OpenAI's shapes: the ``chat.completion``
or ``text_completion`` object, or, streamed, its chunks (a chat opens with the assistant's
role; the finish reason and, when asked, the usage come last; tool calls are numbered
across the whole stream). When the request asked for ``logprobs`` a choice carries them
in OpenAI's shape: a chat's ``{"content": [{token, logprob, bytes, top_logprobs}]}``, a
legacy completion's ``{tokens, token_logprobs, top_logprobs, text_offset}`` (the offsets
count characters of the completion's text, from 0; a streamed answer's go on counting
across its chunks); otherwise ``logprobs`` is ``null``.

A reasoning model's thoughts are ``reasoning_content`` (the field DeepSeek's API and
most OpenAI clients read) and ``reasoning`` (the one Ollama's OpenAI layer writes), both
with the same text: in the chat's message or delta, beside a completion's ``text``.
Streamed, a piece that holds thoughts and answer is sent as two chunks, the thoughts
first, as Ollama splits them (clients that show one field per chunk lose neither).

Kept apart from :mod:`runtime.api.openai`, the routes and request bodies, because it is
pure: the service's :class:`~runtime.api.service.Reply` objects in, plain dicts out, with
no request, response or server-sent event in sight.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

from runtime.api.service import Reply
from runtime.protocol import GenerateChunk, TokenLogprob, TokenProbability


class Answer:
    """One answer's id, time and model, and the OpenAI objects its replies become."""

    def __init__(
        self, model: str, *, chat: bool, include_usage: bool, logprobs: bool = False
    ) -> None:
        self.model, self.chat, self.include_usage = model, chat, include_usage
        self.logprobs = logprobs
        """Whether the request asked for log-probabilities."""
        self.text_offset = 0
        """Characters of the completion's text covered by the logprobs sent so far."""
        self.id = f"{'chatcmpl' if chat else 'cmpl'}-{secrets.token_hex(12)}"
        self.created = int(time.time())
        self.calls = 0
        """Tool calls sent so far (a streamed call's ``index``)."""

    def whole(self, replies: list[Reply]) -> dict[str, Any]:
        """The non-streamed object: the replies' text and calls, and the usage."""
        text = "".join(reply.text for reply in replies)
        reasoning = _reasoning("".join(reply.thinking for reply in replies))
        calls = [call for reply in replies for call in reply.tool_calls]
        self.calls = len(calls)
        entries = tuple(entry for reply in replies for entry in reply.logprobs)
        choice: dict[str, Any] = {"index": 0, "logprobs": self._logprobs(entries)}
        if self.chat:
            message: dict[str, Any] = {"role": "assistant", "content": text or None}
            message |= reasoning
            if calls:
                message["tool_calls"] = [call.to_openai(_call_id()) for call in calls]
            choice["message"] = message
        else:
            choice |= {"text": text, **reasoning}
        choice["finish_reason"] = self._finish_reason(replies[-1])
        return self._object([choice]) | {"usage": _usage(replies[-1])}

    def opening(self) -> Iterator[dict[str, Any]]:
        """The chunk before the text: the assistant's role, as OpenAI sends it."""
        if self.chat:
            yield self._chunk({"role": "assistant", "content": ""}, None)

    def chunks(self, reply: Reply) -> Iterator[dict[str, Any]]:
        """The chunks of one streamed reply (its thoughts, then its text and calls); the
        last reply's carry finish and usage. The reply's logprobs go with the first."""
        logprobs = self._logprobs(reply.logprobs)
        if reply.thinking:
            reasoning = _reasoning(reply.thinking)
            yield self._chunk(reasoning if self.chat else "", None, logprobs, reasoning)
            logprobs = None
        if reply.text or reply.tool_calls or (reply.logprobs and not reply.thinking):
            yield self._chunk(self._delta(reply), None, logprobs)
        if reply.done:
            yield self._chunk({} if self.chat else "", self._finish_reason(reply))
            if self.include_usage:
                yield self._object([]) | {"usage": _usage(reply)}

    def _delta(self, reply: Reply) -> dict[str, Any] | str:
        if not self.chat:
            return reply.text
        shown = reply.text or not reply.tool_calls  # a piece with only logprobs: ""
        delta: dict[str, Any] = {"content": reply.text} if shown else {}
        if reply.tool_calls:
            delta["tool_calls"] = [
                {"index": self.calls + index, **call.to_openai(_call_id())}
                for index, call in enumerate(reply.tool_calls)
            ]
            self.calls += len(reply.tool_calls)
        return delta

    def _chunk(
        self,
        delta: dict[str, Any] | str,
        finish: str | None,
        logprobs: dict[str, Any] | None = None,
        reasoning: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "logprobs": logprobs, "finish_reason": finish}
        choice |= {"delta": delta} if self.chat else {"text": delta, **(reasoning or {})}
        chunk = self._object([choice])
        return chunk | {"usage": None} if self.include_usage else chunk

    def _object(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        kind = "chat.completion" if self.chat else "text_completion"
        streamed = self.chat and (not choices or "delta" in choices[0])
        return {
            "id": self.id,
            "object": f"{kind}.chunk" if streamed else kind,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": choices,
        }

    def _logprobs(self, entries: tuple[TokenLogprob, ...]) -> dict[str, Any] | None:
        """A choice's ``logprobs``: ``None`` unless asked for."""
        if not self.logprobs:
            return None
        if self.chat:
            return {"content": [_chat_logprob(entry) for entry in entries], "refusal": None}
        offsets = []
        for entry in entries:
            offsets.append(self.text_offset)
            self.text_offset += len(entry.token)
        return {
            "tokens": [entry.token for entry in entries],
            "token_logprobs": [entry.logprob for entry in entries],
            "top_logprobs": [{top.token: top.logprob for top in entry.top} for entry in entries],
            "text_offset": offsets,
        }

    def _finish_reason(self, reply: Reply) -> str:
        if self.calls:
            return "tool_calls"
        return "length" if reply.done_reason == "length" else "stop"


def _usage(reply: Reply) -> dict[str, Any]:
    """OpenAI's usage: ``prompt_tokens`` counts the whole prompt, and of it
    ``prompt_tokens_details.cached_tokens`` those reused from the KV cache, as OpenAI
    reports its prompt caching."""
    final = reply.final or GenerateChunk()
    prompt, completion = final.prompt_eval_count, final.eval_count
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": final.cached_tokens},
    }


def _chat_logprob(entry: TokenLogprob) -> dict[str, Any]:
    """One ``ChatCompletionTokenLogprob``: ``top_logprobs`` is always a list."""
    return _top_logprob(entry) | {"top_logprobs": [_top_logprob(top) for top in entry.top]}


def _top_logprob(entry: TokenProbability) -> dict[str, Any]:
    return {"token": entry.token, "logprob": entry.logprob, "bytes": list(entry.bytes) or None}


def _reasoning(thinking: str) -> dict[str, str]:
    """The reasoning fields of a message, delta or choice; none without thoughts."""
    return {"reasoning_content": thinking, "reasoning": thinking} if thinking else {}


def _call_id() -> str:
    return f"call_{secrets.token_hex(12)}"
