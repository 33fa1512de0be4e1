"""Generation and embeddings over the scheduler: what ``/api/generate``, ``/api/chat``
and ``/api/embed`` do, apart from their JSON.

A reply is an async iterator of :class:`Reply` pieces, the last one carrying the
runner's counters. Before the scheduler is asked for a runner the request is checked and
its prompt rendered, so that a bad request fails fast (and before a stream starts):

- the prompt is the image's chat template over the image's SYSTEM and MESSAGE turns and
  the request's messages (:class:`builder.prompt.PromptSource`), with the request's
  ``system`` and ``template`` in place of the image's, or the bare prompt when ``raw``;
- sampling, ``stop``, ``num_predict`` and ``num_keep`` are the image's parameters under
  the request's ``options`` (:mod:`runtime.api.options`), ``format`` becomes a grammar;
- with ``tools``, the reply is read for tool calls in the form the image's template
  family writes them (:class:`builder.templates.tool_call_stream.ToolCallStream`);
- ``think`` (Ollama's: true/false or a level) reaches the template, and a reasoning
  model's reply is split into ``thinking`` and text by the image's output parser
  (:class:`builder.templates.reply_stream.ReplyStream`), before the tool calls are
  read; a model that does not reason answers ``think`` true with Ollama's 400, and one
  that does thinks unless told not to (Ollama sets an unset ``think`` to true);
- ``/api/generate``'s ``context`` (an earlier answer's token ids, deprecated by Ollama but
  still sent) goes before the rendered prompt, and the image's MESSAGE turns are left out
  (the context holds the conversation), as Ollama's GenerateHandler does; a raw request
  may not send one. A non-raw answer returns its ``context``: the prompt's and the
  answer's ids, as the runner's cache holds them, so the next turn reuses all of it;
- ``shift`` (Ollama's request field, not an option; true when absent or null) lets an
  answer that fills the context go on after a context shift (:mod:`runtime.runner.shift`);
  false ends it there with ``done_reason`` "length";
- ``logprobs`` and ``top_logprobs`` ask the runner for each generated token's
  log-probability (:mod:`runtime.runner.logprobs`), carried by the pieces.

The model's name is resolved once (:mod:`runtime.images`) and the resolved model is
what the scheduler gets. Resolving reads the store, and rendering runs the template:
both happen in one worker thread per request (:meth:`Service._prepare`), never on the
event loop.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from builder.store.names import ModelName
from builder.store.store import Store
from builder.templates.conversation import Message, check_messages
from builder.templates.fim import takes_suffix
from builder.templates.reply_stream import ReplyStream
from builder.templates.thinking import Think
from builder.templates.tool_calls import ToolCall, ToolCallParser
from ladle.errors import (
    InvalidFieldError,
    InvalidRequestError,
    RunnerCrashedError,
)
from ladle.keep_alive import KeepAlive, keep_alive_seconds
from ladle.settings import Settings
from runtime.api.middleware.limits import check_request_size
from runtime.api.options import generation
from runtime.api.reading import (
    as_it_is,
    fenced,
    joined,
    output_parser,
    reply_reading,
    tool_parser,
)
from runtime.api.schemas import ChatBody, EmbedBody, FormatField, GenerateBody
from runtime.api.vision import place_images, request_images, with_markers
from runtime.images import ImageCache, ResolvedModel
from runtime.loaded import PsEntry
from runtime.protocol import EmbedResult, GenerateChunk, GenerateRequest, TokenLogprob
from runtime.runner import grammar_for_format
from runtime.scheduler import Scheduler

T = TypeVar("T")
Reading = ReplyStream
"""How one reply is read: reasoning, text and tool calls apart."""


class ToolGrammar(Protocol):
    """A request's forced tool calls (OpenAI's and Anthropic's ``tool_choice``,
    :class:`runtime.api.tool_choice.ToolChoice`)."""

    @property
    def forces(self) -> bool:
        """Whether a call is forced (``"required"`` or a named function)."""
        ...

    def grammar(self, parser: ToolCallParser) -> str | None:
        """GBNF admitting only the forced calls, written as ``parser`` reads them."""
        ...


class Metrics(Protocol):
    """What the service reports (``runtime.api.middleware.metrics.Metrics`` implements it)."""

    def observe_tokens(self, prompt: int, generated: int) -> None: ...
    def observe_cache(self, source: str | None, tokens: int) -> None: ...
    def observe_speculation(self, drafted: int, accepted: int) -> None: ...
    def observe_ttft(self, seconds: float) -> None: ...
    def observe_rate(self, tokens_per_s: float) -> None: ...
    def set_queue_depth(self, n: int) -> None: ...
    def set_loaded_models(self, n: int) -> None: ...
    def set_loaded_caches(self, entries: Iterable[PsEntry]) -> None: ...
    def count_runner_restart(self) -> None: ...
    def generation_started(self) -> None: ...
    def generation_ended(self) -> None: ...


@dataclass(frozen=True)
class Reply:
    """One piece of an answer; the last has ``final`` (the runner's counters)."""

    text: str = ""
    thinking: str = ""
    """The model's reasoning in this piece, apart from the answer's ``text`` (a reasoning
    model asked to think)."""
    tool_calls: tuple[ToolCall, ...] = ()
    logprobs: tuple[TokenLogprob, ...] = ()
    """The generated tokens behind this piece, when the request asked for them."""
    final: GenerateChunk | None = None
    done_reason: str | None = None
    """Why the answer ended: the runner's reason, or ``load``/``unload``."""
    load_duration_ns: int = 0
    total_duration_ns: int = 0

    @property
    def done(self) -> bool:
        return self.done_reason is not None


@dataclass(frozen=True)
class Embeddings:
    vectors: list[list[float]]
    prompt_eval_count: int
    load_duration_ns: int
    total_duration_ns: int


class Service:
    """Answers generate, chat and embed requests with the scheduler's runners."""

    def __init__(
        self, store: Store, scheduler: Scheduler, settings: Settings, metrics: Metrics
    ) -> None:
        self.store = store
        self.scheduler = scheduler
        self.settings = settings
        self.metrics = metrics

    @property
    def images(self) -> ImageCache:
        """The images requests are served from (the scheduler's, the only cache)."""
        return self.scheduler.images

    # -- generate and chat ---------------------------------------------------

    async def generate(self, body: GenerateBody) -> AsyncGenerator[Reply, None]:
        """``/api/generate``: an empty prompt loads the model (or unloads it)."""
        started = time.perf_counter_ns()
        check_request_size(body.prompt, None, self.settings)
        name = ModelName.parse(body.model)
        if not body.prompt and not body.images and not body.suffix:
            return self._load(name, body.keep_alive, body.options)
        model, (request, reading) = await self._prepare(
            name, lambda model: _generate_reading(model, body)
        )
        return self._answer(model, request, body.options, body.keep_alive, reading, started)

    async def chat(
        self, body: ChatBody, tool_grammar: ToolGrammar | None = None
    ) -> AsyncGenerator[Reply, None]:
        """``/api/chat``: no messages loads the model (or unloads it). ``tool_grammar``
        constrains an answer with ``tools`` in place of ``format``."""
        started = time.perf_counter_ns()
        check_request_size(None, body.messages, self.settings)
        messages = check_messages(body.messages, "messages")
        name = ModelName.parse(body.model)
        if not messages:
            return self._load(name, body.keep_alive, body.options)
        model, (request, reading) = await self._prepare(
            name, lambda model: _chat_request(model, body, messages, tool_grammar)
        )
        return self._answer(model, request, body.options, body.keep_alive, reading, started)

    async def _prepare(
        self, name: ModelName, prepare: Callable[[ResolvedModel], T]
    ) -> tuple[ResolvedModel, T]:
        """``name`` resolved, and ``prepare`` (which renders the prompt) run on it, in one
        worker thread.

        Why the render is not kept on the event loop, measured on the development
        machine (2 shared cores; ``bench/render_bench.py``'s 20-message conversation):
        SmolLM2's compiled template renders it in 0.22-0.33 ms (a converted Go template
        0.47 ms), a template not yet compiled costs 1.8-3.5 ms more, and a hop to a
        worker thread 0.06-0.12 ms. Cheap, but every stream waits while the loop renders,
        a request's own ``template`` may run up to the sandbox's 2 s limit, and longer
        conversations render longer. The store must be read in a worker anyway, so the
        render rides along in the same hop, at no extra cost.
        """
        return await self.scheduler.prepare(name, prepare)

    async def _load(
        self, name: ModelName, keep_alive: KeepAlive, options: Mapping[str, Any] | None
    ) -> AsyncGenerator[Reply, None]:
        started = time.perf_counter_ns()
        unload = keep_alive_seconds(keep_alive, self.settings.keep_alive) == 0
        await self.scheduler.load_only(name, keep_alive, options)
        self._report_state()
        elapsed = time.perf_counter_ns() - started
        yield Reply(
            done_reason="unload" if unload else "load",
            load_duration_ns=0 if unload else elapsed,
            total_duration_ns=elapsed,
        )

    async def _answer(
        self,
        model: ResolvedModel,
        request: GenerateRequest,
        options: Mapping[str, Any] | None,
        keep_alive: KeepAlive,
        reading: ReplyStream,
        started: int,
    ) -> AsyncGenerator[Reply, None]:
        self.metrics.set_queue_depth(self.scheduler.queued + 1)
        try:
            async with self.scheduler.use(model, options, keep_alive) as loaded:
                self.metrics.set_queue_depth(self.scheduler.queued)
                self._report_state()
                loaded_at = time.perf_counter_ns()
                chunks = loaded.handle.generate(request)
                self.metrics.generation_started()
                try:
                    async for piece in self._pieces(chunks, reading, started):
                        if (final := piece.final) is not None:
                            loaded.cache_hits.count(final)
                            loaded.speculation.count(final)
                        yield piece if final is None else self._final(final, started, loaded_at)
                finally:
                    try:
                        if isinstance(chunks, AsyncGenerator):  # cancels it in the runner
                            await chunks.aclose()
                    finally:
                        self.metrics.generation_ended()
        except RunnerCrashedError:
            self.metrics.count_runner_restart()
            raise
        finally:
            self.metrics.set_queue_depth(self.scheduler.queued)

    async def _pieces(
        self, chunks: AsyncIterator[GenerateChunk], reading: ReplyStream, started: int
    ) -> AsyncGenerator[Reply, None]:
        """The text of ``chunks`` as shown, its reasoning apart (tool calls held back and
        parsed at the end); the last piece carries the runner's last chunk in ``final``
        (not sent as is)."""
        first = True
        async for chunk in chunks:
            if first and chunk.text:
                first = False
                self.metrics.observe_ttft((time.perf_counter_ns() - started) / 1e9)
            part = reading.feed(chunk.text)
            if chunk.done:
                part = joined(part, reading.finish())
            if part.content or part.thinking or part.tool_calls or chunk.logprobs:
                yield Reply(
                    text=part.content,
                    thinking=part.thinking,
                    tool_calls=part.tool_calls,
                    logprobs=chunk.logprobs,
                )
            if chunk.done:
                yield Reply(final=chunk)
                return

    def _final(self, chunk: GenerateChunk, started: int, loaded_at: int) -> Reply:
        self.metrics.observe_tokens(chunk.prompt_evaluated, chunk.eval_count)
        self.metrics.observe_cache(chunk.cache_source, chunk.cached_tokens)
        self.metrics.observe_speculation(chunk.draft_count, chunk.draft_accepted_count)
        if chunk.eval_duration_ns > 0 and chunk.eval_count:
            self.metrics.observe_rate(chunk.eval_count / (chunk.eval_duration_ns / 1e9))
        return Reply(
            final=chunk,
            done_reason=chunk.done_reason or "stop",
            load_duration_ns=loaded_at - started,
            total_duration_ns=time.perf_counter_ns() - started,
        )

    # -- embeddings ----------------------------------------------------------

    async def embed(self, body: EmbedBody) -> Embeddings:
        """``/api/embed``: L2-normalised vectors (cut to ``dimensions`` and normalised
        again when asked). A text longer than the context is cut to fit (the tokens the
        model adds kept) when ``truncate``, and refused otherwise, by the runner."""
        started = time.perf_counter_ns()
        texts = body.texts()
        check_request_size("".join(texts), None, self.settings)
        model = await self.scheduler.resolve(ModelName.parse(body.model))
        async with self.scheduler.use(model, body.options, body.keep_alive, embedding=True) as m:
            loaded_at = time.perf_counter_ns()
            self._report_state()
            result = EmbedResult(vectors=[])
            if texts:
                result = await m.handle.embed(texts, body.truncate)
        vectors = result.vectors
        if body.dimensions is not None:
            vectors = [_normalised(vector[: body.dimensions]) for vector in vectors]
        elapsed = time.perf_counter_ns() - started
        return Embeddings(vectors, result.prompt_eval_count, loaded_at - started, elapsed)

    # -- helpers -------------------------------------------------------------

    def _report_state(self) -> None:
        entries = self.scheduler.ps()
        self.metrics.set_loaded_models(len(entries))
        self.metrics.set_loaded_caches(entries)


# -- requests, prepared in a worker thread (Service._prepare) -------------------


def _generate_reading(model: ResolvedModel, body: GenerateBody) -> tuple[GenerateRequest, Reading]:
    """The runner's request and how its reply is read (a raw prompt: as it is)."""
    parser, think = output_parser(model, body.think)  # Ollama checks think before raw
    if body.raw:
        return _generate_request(model, body), as_it_is()
    request = _generate_request(model, body, think)
    request = fenced(parser, think, request.model_copy(update={"preserve": parser.markup}))
    return request, reply_reading(parser, think, request)


def _generate_request(
    model: ResolvedModel, body: GenerateBody, think: Think = None
) -> GenerateRequest:
    images = request_images(model, body.images)
    if body.suffix:
        if images:
            raise InvalidFieldError("images", "a request with a suffix cannot have images")
        prompt = _fill_in(model, body, think)
    elif body.raw:
        if body.context:
            raise InvalidFieldError(
                "context", "raw mode does not support template, system, or context"
            )
        prompt = with_markers(body.prompt, len(images))
    else:
        source = model.prompt_source()
        if body.template:
            source = source.with_template(body.template, "the request's template")
        if body.context:  # the conversation so far is in the context
            source = replace(source, messages=())
        messages: list[Message] = [
            {"role": "user", "content": with_markers(body.prompt, len(images))}
        ]
        if body.system:
            messages.insert(0, {"role": "system", "content": body.system})
        prompt = source.render(messages, think=think)
    request = generation(model.image.params, body.options).request(prompt, _grammar(body.format))
    return request.model_copy(
        update={
            "context": tuple(body.context or ()),
            "images": images,
            "return_tokens": not body.raw,
            **_context_rules(body),
            **_logprobs(body.logprobs, body.top_logprobs),
        }
    )


def _fill_in(model: ResolvedModel, body: GenerateBody, think: Think) -> str:
    """The prompt of a request with a ``suffix``: the model's fill-in-the-middle prompt
    (:mod:`builder.templates.fim`) on the request's ``prompt`` and ``suffix``, with
    Ollama's 400 for a model that cannot fill in. What Ollama drops unread beside a
    suffix (``raw``, ``system``) is refused, and a request's ``template`` must read it."""
    for field in ("raw", "system"):
        if getattr(body, field):
            raise InvalidFieldError(field, f"a request with a suffix cannot have {field}")
    source = model.prompt_source()
    if body.template:
        source = source.with_template(body.template, "the request's template")
        if not takes_suffix(source.template.source):
            raise InvalidFieldError("template", "the request's template does not read .Suffix")
    prompt = source.fill_in(body.prompt, body.suffix or "", think)
    if prompt is None:
        raise InvalidFieldError("suffix", f"{model.name.full()} does not support insert")
    return prompt


def _chat_request(
    model: ResolvedModel,
    body: ChatBody,
    messages: list[Message],
    tool_grammar: ToolGrammar | None = None,
) -> tuple[GenerateRequest, Reading]:
    messages, images = place_images(model, messages)
    parser, think = output_parser(model, body.think)
    calls = tool_parser(model, parser, body.tools) if body.tools else None
    if tool_grammar is not None and tool_grammar.forces and calls is None:
        raise InvalidFieldError(
            "tool_choice",
            f"{model.name.display()} writes its tool calls in its own messages (harmony, "
            'Glimmer), which ladle cannot force: send tool_choice "auto"',
        )
    prompt = model.prompt_source().render(messages, body.tools or None, think=think)
    forced = tool_grammar.grammar(calls) if tool_grammar is not None and calls else None
    grammar = forced if forced is not None else _grammar(body.format)
    request = generation(model.image.params, body.options).request(prompt, grammar)
    update = {**_context_rules(body), **_logprobs(body.logprobs, body.top_logprobs)}
    update["images"] = images
    marker = (calls.marker,) if calls is not None and calls.marker else ()
    request = request.model_copy(update={**update, "preserve": (*parser.markup, *marker)})
    request = fenced(parser, think, request)
    return request, reply_reading(parser, think, request, calls, body.tools)


def _context_rules(body: GenerateBody | ChatBody) -> dict[str, Any]:
    """Ollama's ``shift`` (on unless ``false``): a full context shifts during generation;
    and ``truncate`` (off unless ``true``, where Ollama's is on): a prompt longer than the
    context loses its oldest tokens after ``num_keep`` only when asked, and is otherwise a
    400 saying so, rather than an answer that silently forgot the conversation's start."""
    return {"shift": body.shift is not False, "truncate": body.truncate is True}


def _logprobs(logprobs: bool, top_logprobs: int) -> dict[str, Any]:
    """The runner request's fields for a body's ``logprobs`` and ``top_logprobs`` (the
    alternatives only come with ``logprobs``, as Ollama's runner gives them)."""
    return {"logprobs": logprobs, "top_logprobs": top_logprobs if logprobs else 0}


def _grammar(format: FormatField) -> str | None:
    if format is None or format == "":
        return None
    try:
        return grammar_for_format(format)
    except InvalidRequestError as error:  # say which field it was
        raise InvalidFieldError("format", error.reason) from None


def _normalised(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else list(vector)
