"""The server side of a runner: :func:`start_runner` and :class:`RunnerProcess`.

A :class:`RunnerProcess` owns one child process (``python -m runtime.runner``) and
implements :class:`runtime.protocol.RunnerHandle` over its pipes. Many requests share
the pipes at once, told apart by id. The child's stderr (llama.cpp's log) is kept in a
ring buffer whose tail is shown in errors. If the child dies, from a crash in llama.cpp
or a kill, every request in flight fails with :class:`RunnerCrashedError`, and
:attr:`RunnerProcess.alive` turns false so that the scheduler starts a new one.

A loaded runner is watched (:class:`~runtime.runner.watchdog.Watchdog`): one that has
stopped (SIGSTOP, a frozen machine) or hung (stuck inside llama.cpp) is killed, and its
requests fail with :class:`RunnerHungError` rather than wait past every client's timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ladle.errors import (
    ContextOverflowError,
    InvalidRequestError,
    LadleError,
    RunnerCrashedError,
    RunnerError,
    RunnerHungError,
)
from ladle.settings import DEFAULT_RUNNER_TIMEOUT_S
from runtime.protocol import (
    EmbedResult,
    GenerateChunk,
    GenerateRequest,
    LoadSpec,
    RunnerHandle,
    RunnerInfo,
)

from .messages import (
    EVENTS,
    HEARTBEAT_S,
    Cancel,
    ChunkGenerated,
    Detokenize,
    Embed,
    EmbeddingsComputed,
    Generate,
    Load,
    LoadFailed,
    Request,
    RequestFailed,
    ResultComputed,
    RunnerReady,
    Shutdown,
    Tokenize,
    encode,
    ends_request,
)
from .watchdog import Watchdog

DEFAULT_LOAD_TIMEOUT_S = 300.0
"""How long a load may take before the runner is killed (big models from slow disks)."""
CLOSE_TIMEOUT_S = 5.0
"""How long a runner gets to exit after ``shutdown`` before it is killed."""
LOG_LINES_KEPT = 200
LOG_LINES_SHOWN = 12
PIPE_LIMIT = 64 << 20
"""Longest event line (a batch of embeddings can be a few MB of JSON)."""
_ROOT = Path(__file__).resolve().parents[2]  # where the ``runtime`` package lives
_log = logging.getLogger(__name__)

_Answer = ChunkGenerated | EmbeddingsComputed | ResultComputed
_Item = _Answer | LadleError


async def start_runner(
    load: LoadSpec,
    *,
    model_name: str | None = None,
    load_timeout_s: float = DEFAULT_LOAD_TIMEOUT_S,
) -> RunnerProcess:
    """Start a runner process for ``load`` and wait until its model is loaded.

    ``model_name`` is how errors name the model (the file name when not given). Raises
    :class:`RunnerError` with llama.cpp's reason when the load fails, the process dies
    while loading, or it takes longer than ``load_timeout_s``.
    """
    runner = await RunnerProcess.spawn(load, model_name or load.model_path.name)
    try:
        await asyncio.wait_for(asyncio.shield(runner.ready), load_timeout_s)
    except TimeoutError:
        await runner.close()
        raise RunnerError(
            f"the runner for {runner.model} did not load within {load_timeout_s:g}s",
            model=runner.model,
            log=runner.log_tail(),
        ) from None
    except BaseException:
        await runner.close()
        raise
    return runner


class RunnerProcess:
    """One runner child process, as the scheduler and the HTTP API use it."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        model: str,
        runner_timeout: float = DEFAULT_RUNNER_TIMEOUT_S,
    ) -> None:
        self.model = model
        self._process = process
        self._log: deque[str] = deque(maxlen=LOG_LINES_KEPT)
        self._ids = count(1)
        self._streams: dict[int, asyncio.Queue[_Item]] = {}
        self.ready: asyncio.Future[RunnerInfo] = asyncio.get_running_loop().create_future()
        self._info: RunnerInfo | None = None
        self._error: LadleError | None = None  # set once it can serve nothing more
        self._closing = False
        self._working: set[int] = set()
        """Requests the runner has not finished: what it owes the server."""
        self._watchdog = Watchdog(runner_timeout, lambda: bool(self._working))
        self._stalled: str | None = None  # why the watchdog killed it
        self._watch_task: asyncio.Task[None] | None = None
        self._stderr_task = asyncio.create_task(self._read_stderr())
        self._stdout_task = asyncio.create_task(self._read_stdout())

    @classmethod
    async def spawn(cls, load: LoadSpec, model: str) -> RunnerProcess:
        """Start the child and send it ``load``; :attr:`ready` resolves when it is loaded."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "runtime.runner",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            limit=PIPE_LIMIT,
            start_new_session=True,  # a Ctrl-C meant for the server is the server's to handle
        )
        runner = cls(process, model, load.runner_timeout or DEFAULT_RUNNER_TIMEOUT_S)
        runner._send(Load(spec=load))
        return runner

    # RunnerHandle

    @property
    def info(self) -> RunnerInfo:
        if self._info is None:
            raise RunnerError(f"the runner for {self.model} has not loaded", model=self.model)
        return self._info

    @property
    def alive(self) -> bool:
        return self._error is None and self._process.returncode is None

    @property
    def pid(self) -> int:
        return self._process.pid

    async def generate(self, request: GenerateRequest) -> AsyncGenerator[GenerateChunk, None]:
        """Stream a completion; closing the iterator early cancels it in the runner."""
        stream = self._stream(lambda i: Generate(id=i, request=request))
        async with contextlib.aclosing(stream):  # closed with this one, at once
            async for item in stream:
                assert isinstance(item, ChunkGenerated)
                yield item.chunk

    async def embed(self, texts: list[str], truncate: bool = True) -> EmbedResult:
        """Pooled, L2-normalised embeddings (the model must be loaded for embedding); a
        text longer than the context is cut to fit when ``truncate``, else refused. They
        come a batch at a time; a caller cancelled meanwhile cancels the rest."""
        vectors: list[list[float]] = []
        stream = self._stream(lambda i: Embed(id=i, texts=texts, truncate=truncate))
        async with contextlib.aclosing(stream):
            async for batch in stream:
                assert isinstance(batch, EmbeddingsComputed)
                vectors += batch.vectors
                counted = batch.prompt_eval_count  # the last batch's: the whole request's
        return EmbedResult(vectors=vectors, prompt_eval_count=counted)

    async def tokenize(self, text: str, special: bool = True) -> list[int]:
        value = await self._result(lambda i: Tokenize(id=i, text=text, special=special))
        return [int(token) for token in value]

    async def detokenize(self, tokens: list[int]) -> str:
        return str(await self._result(lambda i: Detokenize(id=i, tokens=tokens)))

    async def close(self, error: LadleError | None = None) -> None:
        """Finish nothing more: fail the requests in flight at once, with ``error``
        (default: a ``RunnerError``, the runner was closed), and reap the process."""
        self._closing = True
        self._fail_all(error or self._closed_error())
        process = self._process
        if process.returncode is None:
            with contextlib.suppress(ConnectionError, RuntimeError, OSError):
                self._write(Shutdown())
            if process.stdin is not None:
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), CLOSE_TIMEOUT_S)
            except TimeoutError:
                process.kill()
        await self._stdout_task

    def log_tail(self, lines: int = LOG_LINES_SHOWN) -> str:
        """The runner's last lines of stderr (llama.cpp's warnings and errors)."""
        return "\n".join(list(self._log)[-lines:])

    # Plumbing

    def _send(self, command: Load | Request | Cancel | Shutdown) -> None:
        if self._error is not None:
            raise self._error
        try:
            self._write(command)
        except (ConnectionError, RuntimeError) as error:  # the pipe closed under us
            raise RunnerError(f"the runner for {self.model} is gone", model=self.model) from error

    def _write(self, command: Load | Request | Cancel | Shutdown) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        stdin.write(encode(command))

    def _begin(self) -> int:
        """A new request's id, counted as work the runner owes until its last event;
        the watchdog's step clock starts when the runner had none."""
        if not self._working:
            self._watchdog.started(time.monotonic())
        request_id = next(self._ids)
        self._working.add(request_id)
        return request_id

    async def _stream(self, make: Callable[[int], Request]) -> AsyncGenerator[_Answer, None]:
        """The answers to the request ``make`` builds, to its last one; a stream closed
        (or cancelled) before that cancels the request in the runner."""
        request_id = self._begin()
        stream: asyncio.Queue[_Item] = asyncio.Queue()
        self._streams[request_id] = stream
        finished = False
        try:
            self._send(make(request_id))
            while not finished:
                item = await stream.get()
                if isinstance(item, LadleError):
                    finished = True
                    raise item
                finished = ends_request(item)
                yield item
        finally:
            del self._streams[request_id]
            if not finished and self.alive:
                self._send(Cancel(id=request_id))
                self._working.discard(request_id)  # a cancel is taken before the next step

    async def _result(self, make: Callable[[int], Request]) -> Any:
        """The value of a request answered in one piece (tokenize, detokenize)."""
        stream = self._stream(make)
        async with contextlib.aclosing(stream):
            async for item in stream:
                assert isinstance(item, ResultComputed)
                return item.value
        raise AssertionError("unreachable: a stream ends with its last answer or an error")

    async def _read_stderr(self) -> None:
        assert self._process.stderr is not None
        async for line in self._process.stderr:
            text = line.decode("utf-8", "replace").rstrip()
            self._log.append(text)
            _log.debug("runner %s: %s", self.model, text)

    async def _read_stdout(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        try:
            while line := await stdout.readline():
                try:
                    self._dispatch(EVENTS.validate_json(line))
                except ValidationError as error:
                    _log.error("runner %s sent a malformed event: %s", self.model, error)
        except (ValueError, OSError) as error:  # a line over PIPE_LIMIT, a broken pipe
            _log.error("runner %s: cannot read its events: %s", self.model, error)
        finally:
            await self._on_exit()

    def _dispatch(self, event: Any) -> None:
        self._watchdog.heard(time.monotonic(), event)
        if isinstance(event, ChunkGenerated | EmbeddingsComputed | ResultComputed | RequestFailed):
            self._deliver(event)
        elif isinstance(event, RunnerReady):
            self._info = event.info
            self.ready.set_result(event.info)
            self._watch_task = asyncio.create_task(self._watch(), name=f"watch {self.model}")
        elif isinstance(event, LoadFailed) and not self.ready.done():
            reason = f"cannot load {self.model}: {event.reason}"
            self.ready.set_exception(
                RunnerError(reason, model=self.model, log=event.log or self.log_tail())
            )

    def _deliver(self, event: _Answer | RequestFailed) -> None:
        """Hand a request's event to its stream (a failure as the error to raise)."""
        if ends_request(event):
            self._working.discard(event.id)
        if (stream := self._streams.get(event.id)) is not None:
            item = self._request_error(event) if isinstance(event, RequestFailed) else event
            stream.put_nowait(item)

    def _request_error(self, event: RequestFailed) -> RunnerError:
        if event.kind == "context_overflow":
            return ContextOverflowError(event.n_tokens, event.n_ctx, model=self.model)
        if event.kind == "invalid_request":
            return InvalidRequestError(event.message, model=self.model)
        return RunnerError(event.message, model=self.model, log=self.log_tail())

    async def _watch(self) -> None:
        """Kill the runner once the watchdog says it stopped or hung."""
        while self._process.returncode is None:
            await asyncio.sleep(HEARTBEAT_S)
            why = self._watchdog.check(time.monotonic())
            if why is not None:
                _log.error("the runner for %s %s; killing it", self.model, why)
                self._stalled = why
                self._process.kill()
                return

    async def _on_exit(self) -> None:
        """The child's stdout closed: reap it and fail everything still waiting on it."""
        process = self._process
        try:
            await asyncio.wait_for(process.wait(), CLOSE_TIMEOUT_S)
        except TimeoutError:  # it closed stdout but lives on: it is of no more use
            process.kill()
            await process.wait()
        if self._watch_task is not None:
            self._watch_task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stderr_task, CLOSE_TIMEOUT_S)
        error = self._exit_error(process.returncode)
        if not self.ready.done():
            self.ready.set_exception(error)
            self.ready.exception()  # retrieved: nobody may be waiting any more
        self._fail_all(error)

    def _fail_all(self, error: LadleError) -> None:
        """Serve nothing more: every request still waiting fails with ``error``."""
        self._error = self._error or error
        for stream in self._streams.values():
            stream.put_nowait(error)

    def _closed_error(self) -> RunnerError:
        return RunnerError(f"the runner for {self.model} was closed", model=self.model)

    def _exit_error(self, returncode: int | None) -> RunnerError:
        if self._closing:
            return self._closed_error()
        if self._stalled is not None:
            return RunnerHungError(self.model, self._stalled, log=self.log_tail())
        how = _describe_exit(returncode)
        if self._info is None:
            reason = f"the runner for {self.model} stopped while loading ({how})"
            return RunnerError(reason, model=self.model, log=self.log_tail())
        return RunnerCrashedError(self.model, how, log=self.log_tail())


def _describe_exit(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-returncode).name}"
        return f"signal {-returncode}"
    return f"exit status {returncode}"


if TYPE_CHECKING:

    def _is_a_runner_handle(runner: RunnerProcess) -> RunnerHandle:
        return runner  # mypy checks that RunnerProcess implements the protocol
