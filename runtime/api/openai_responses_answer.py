"""One answer of ``POST /v1/responses``: the ``response`` object, or, streamed, the
Responses API's events, both from the service's :class:`~runtime.api.service.Reply`
pieces (pure: replies in, plain dicts out).

The answer's ``output`` is a list of items, each opened, written and closed as the
pieces arrive: the model's reasoning (``Reply.thinking``) is a ``reasoning`` item, its
text a ``message`` item with one ``output_text`` part, each tool call a
``function_call`` item; a change from reasoning to text (or back) closes one item and
opens the next. Streamed, that is OpenAI's event sequence, every event numbered by
``sequence_number``::

    response.created, response.in_progress
    response.output_item.added            (an item, status in_progress)
      response.content_part.added          (message: output_text; reasoning: reasoning_text)
      response.output_text.delta …         (reasoning: response.reasoning_text.delta …)
      response.output_text.done, response.content_part.done
      (function_call: response.function_call_arguments.delta, ….done)
    response.output_item.done              (the item whole)
    response.completed                     (or response.incomplete at max_output_tokens)

The whole answer is the same machine fed every piece, so that both agree item for item.
A reasoning item carries the thinking as ``reasoning_text`` content (the model's own
reasoning, as OpenAI gives it for open-weight models), or, when the request asked for a
``summary``, as its summary (``response.reasoning_summary_*`` events; ladle has no model
to summarise with, so the summary is the reasoning itself); ``encrypted_content``, when
included, is the same text, not encrypted (it only ever goes back to the client that
sent the request, which can read the reasoning anyway).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runtime.api.service import Reply
from runtime.protocol import GenerateChunk, TokenLogprob, TokenProbability

Event = dict[str, Any]


@dataclass(frozen=True)
class Shape:
    """How a request asked its answer to be written."""

    summary: bool = False
    """Reasoning as a ``summary`` (``reasoning.summary`` was set), not as content."""
    encrypted: bool = False
    """Reasoning items carry ``encrypted_content`` (``include``)."""
    logprobs: bool = False
    """``output_text`` parts carry their tokens' ``logprobs``."""
    obfuscate: bool = False
    """Delta events carry random ``obfuscation`` padding (``stream_options``)."""
    namespaced: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """Namespace tools' functions by the name the model calls them: their namespace and
    own name (a call's item carries them apart, as OpenAI's do)."""


@dataclass
class _Item:
    """The item being written: its kind, place, id, text and log-probabilities."""

    kind: str
    index: int
    id: str
    text: list[str] = field(default_factory=list)
    logprobs: list[dict[str, Any]] = field(default_factory=list)


class ResponseAnswer:
    """One response's id, settings echo and output, and the events that build it."""

    def __init__(self, echo: dict[str, Any], shape: Shape) -> None:
        self.id = f"resp_{secrets.token_hex(24)}"
        self.created_at = int(time.time())
        self.echo, self.shape = echo, shape
        self.output: list[dict[str, Any]] = []
        self.status = "in_progress"
        self.usage: dict[str, Any] | None = None
        self.failure: dict[str, str] | None = None
        self._item: _Item | None = None
        self._held: tuple[TokenLogprob, ...] = ()
        self._sequence = 0

    # -- the whole answer and the stream ---------------------------------------

    def whole(self, replies: Iterable[Reply]) -> dict[str, Any]:
        """The ``response`` object of every piece."""
        for reply in replies:
            self.events(reply)
        return self.response()

    def opening(self) -> list[Event]:
        """The events before the first piece."""
        snapshot = {"response": self.response()}
        return [
            self._event("response.created", snapshot),
            self._event("response.in_progress", snapshot),
        ]

    def events(self, reply: Reply) -> list[Event]:
        """The events of one piece; the last piece's close the response."""
        events = self._write("reasoning", reply.thinking, ()) if reply.thinking else []
        if reply.text:
            events += self._write("message", reply.text, self._held + reply.logprobs)
            self._held = ()
        elif not reply.thinking:  # tokens whose text the service still holds back
            self._held += reply.logprobs
        for call in reply.tool_calls:
            arguments = json.dumps(call.arguments, ensure_ascii=False, separators=(",", ":"))
            events += self._call(call.name, arguments)
        return events + self._finish(reply) if reply.done else events

    def failed(self, message: str) -> Event:
        """The event that ends a stream that failed after it started."""
        self.status, self.failure = "failed", {"code": "server_error", "message": message}
        return self._event("response.failed", {"response": self.response()})

    def response(self) -> dict[str, Any]:
        """The ``response`` object as it stands."""
        done = self.status in ("completed", "incomplete")
        incomplete = {"reason": "max_output_tokens"} if self.status == "incomplete" else None
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "completed_at": int(time.time()) if done else None,
            "status": self.status,
            "error": self.failure,
            "incomplete_details": incomplete,
            **self.echo,
            "output": list(self.output),
            "usage": self.usage,
        }

    # -- items -------------------------------------------------------------------

    def _write(self, kind: str, text: str, logprobs: tuple[TokenLogprob, ...]) -> list[Event]:
        """``text`` added to the open item of ``kind`` (closing another, opening it)."""
        events = self._close("completed") if self._item and self._item.kind != kind else []
        if self._item is None:
            events += self._open(kind)
        item = self._item
        assert item is not None
        entries = [_logprob(entry) for entry in logprobs] if self.shape.logprobs else []
        item.text.append(text)
        item.logprobs += entries
        fields: dict[str, Any] = {"item_id": item.id, "output_index": item.index, "delta": text}
        return [*events, self._delta(self._part_event(kind, "delta"), fields, entries)]

    def _open(self, kind: str) -> list[Event]:
        prefix = "msg" if kind == "message" else "rs"
        item = self._item = _Item(kind, len(self.output), f"{prefix}_{secrets.token_hex(24)}")
        added = self._item_object(item, "in_progress", empty=True)
        where = {"item_id": item.id, "output_index": item.index}
        part_event, part_fields = self._part(item, "")
        return [
            self._event("response.output_item.added", {"output_index": item.index, "item": added}),
            self._event(f"{part_event}.added", where | part_fields),
        ]

    def _close(self, status: str) -> list[Event]:
        item, self._item = self._item, None
        if item is None:
            return []
        text = "".join(item.text)
        where = {"item_id": item.id, "output_index": item.index}
        done_fields = where | self._index(item.kind) | {"text": text}
        if item.kind == "message":
            done_fields["logprobs"] = item.logprobs
        part_event, part_fields = self._part(item, text)
        whole = self._item_object(item, status)
        self.output.append(whole)
        return [
            self._event(f"{self._part_event(item.kind, 'done')}", done_fields),
            self._event(f"{part_event}.done", where | part_fields),
            self._event("response.output_item.done", {"output_index": item.index, "item": whole}),
        ]

    def _call(self, name: str, arguments: str) -> list[Event]:
        events = self._close("completed")
        index = len(self.output)
        namespace, name = self.shape.namespaced.get(name, (None, name))
        item = {
            "id": f"fc_{secrets.token_hex(24)}",
            "type": "function_call",
            "status": "in_progress",
            "call_id": f"call_{secrets.token_hex(12)}",
            "name": name,
            **({"namespace": namespace} if namespace else {}),
            "arguments": "",
        }
        where = {"item_id": item["id"], "output_index": index}
        done = item | {"status": "completed", "arguments": arguments}
        self.output.append(done)
        return [
            *events,
            self._event("response.output_item.added", {"output_index": index, "item": item}),
            self._delta("response.function_call_arguments.delta", where | {"delta": arguments}),
            self._event(
                "response.function_call_arguments.done",
                where | {"name": name, "arguments": arguments},
            ),
            self._event("response.output_item.done", {"output_index": index, "item": done}),
        ]

    def _finish(self, reply: Reply) -> list[Event]:
        """Close the open item (an empty message when there was no output at all) and
        the response: ``incomplete`` when it stopped at its token limit."""
        stopped = reply.done_reason == "length"
        events = self._close("incomplete" if stopped else "completed")
        if not self.output:
            events += self._open("message") + self._close("incomplete" if stopped else "completed")
        self.status = "incomplete" if stopped else "completed"
        self.usage = _usage(reply.final or GenerateChunk())
        return [*events, self._event(f"response.{self.status}", {"response": self.response()})]

    def _item_object(self, item: _Item, status: str, *, empty: bool = False) -> dict[str, Any]:
        text = "" if empty else "".join(item.text)
        base = {"id": item.id, "type": item.kind, "status": status}
        if item.kind == "message":
            parts = [] if empty else [self._part(item, text)[1]["part"]]
            return base | {"role": "assistant", "content": parts}
        summary = [{"type": "summary_text", "text": text}] if self.shape.summary else []
        content = [] if self.shape.summary else [{"type": "reasoning_text", "text": text}]
        if empty:
            summary, content = [], []
        encrypted = {"encrypted_content": text} if self.shape.encrypted and not empty else {}
        return base | {"summary": summary, "content": content} | encrypted

    def _part(self, item: _Item, text: str) -> tuple[str, dict[str, Any]]:
        """The event family of ``item``'s one part, and the part's fields at ``text``."""
        if item.kind == "message":
            logprobs = item.logprobs if text else []
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs}
            return "response.content_part", {"content_index": 0, "part": part}
        if self.shape.summary:
            part = {"type": "summary_text", "text": text}
            return "response.reasoning_summary_part", {"summary_index": 0, "part": part}
        part = {"type": "reasoning_text", "text": text}
        return "response.content_part", {"content_index": 0, "part": part}

    def _part_event(self, kind: str, stage: str) -> str:
        if kind == "message":
            return f"response.output_text.{stage}"
        return f"response.reasoning_{'summary_text' if self.shape.summary else 'text'}.{stage}"

    def _index(self, kind: str) -> dict[str, int]:
        summary = kind == "reasoning" and self.shape.summary
        return {"summary_index": 0} if summary else {"content_index": 0}

    # -- events ------------------------------------------------------------------

    def _delta(
        self, kind: str, fields: dict[str, Any], logprobs: list[dict[str, Any]] | None = None
    ) -> Event:
        item = self._item
        if item is not None and kind.startswith(("response.output_text", "response.reasoning")):
            fields = fields | self._index(item.kind)
        if kind == "response.output_text.delta":
            fields = fields | {"logprobs": logprobs or []}
        if self.shape.obfuscate:  # pads a delta's size with noise, as OpenAI's option does
            fields = fields | {"obfuscation": secrets.token_urlsafe(secrets.randbelow(24) + 1)}
        return self._event(kind, fields)

    def _event(self, kind: str, fields: dict[str, Any]) -> Event:
        event = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return event


def _usage(final: GenerateChunk) -> dict[str, Any]:
    """OpenAI's usage: ``input_tokens`` the whole prompt, of it ``cached_tokens`` reused
    from the KV cache and ``cache_write_tokens`` evaluated (and kept there for the next
    request). ``reasoning_tokens`` is 0: the runner counts the answer's tokens, not which
    of them were reasoning (they are in ``output_tokens``)."""
    prompt, generated = final.prompt_eval_count, final.eval_count
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": final.cached_tokens,
            "cache_write_tokens": final.prompt_evaluated,
        },
        "output_tokens": generated,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + generated,
    }


def _logprob(entry: TokenLogprob) -> dict[str, Any]:
    """One token of an ``output_text``'s ``logprobs``."""
    return _probability(entry) | {"top_logprobs": [_probability(top) for top in entry.top]}


def _probability(entry: TokenProbability) -> dict[str, Any]:
    return {"token": entry.token, "logprob": entry.logprob, "bytes": list(entry.bytes)}
