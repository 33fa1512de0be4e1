"""The runner process: load one model, then serve commands until told to stop.

``python -m runtime.runner`` runs :func:`main`. Commands arrive on stdin (read by a
thread into a queue, so that reading never blocks the decode loop); events leave on the
original stdout, which is taken over first so that nothing llama.cpp prints can corrupt
the protocol. The process ends on ``shutdown`` or when stdin closes (the server is gone).

A :class:`Heartbeats` thread says every :data:`~runtime.runner.messages.HEARTBEAT_S` that
the process lives and how many turns its loop has made, from the start (before the
model loads) to the end, so that the server can tell a runner that stopped (no
heartbeat) or hung (no turn while busy) from one that is merely slow.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
import traceback
from collections.abc import Iterable
from typing import TYPE_CHECKING, BinaryIO

from pydantic import BaseModel, ValidationError

from ladle.errors import LadleError, RunnerError

from .messages import (
    COMMANDS,
    HEARTBEAT_S,
    Cancel,
    Command,
    Detokenize,
    Embed,
    Generate,
    Heartbeat,
    Load,
    LoadFailed,
    RequestFailed,
    ResultComputed,
    RunnerReady,
    Shutdown,
    Tokenize,
    encode,
    failure_of,
)

if TYPE_CHECKING:
    from .engine import Engine

Inbox = queue.Queue[Command | None]  # None: stdin closed


def main() -> int:
    """Entry point of the runner process; the exit status says how it ended."""
    out = Events(_claim_stdout())
    inbox: Inbox = queue.Queue()
    threading.Thread(target=_read_commands, args=(inbox,), name="commands", daemon=True).start()
    heartbeats = Heartbeats(out)
    heartbeats.start()
    first = inbox.get()
    if not isinstance(first, Load):
        print("runner: the first command must be 'load'", file=sys.stderr)
        return 2
    # llama.cpp is imported only now, after stdout is safe from its prints.
    from .draft import load_draft
    from .engine import Engine
    from .multimodal import load_projector
    from .native import LlamaLog, LlamaModel

    log = LlamaLog()
    try:
        model = LlamaModel(first.spec, log)
        draft = load_draft(first.spec, model, log)  # speculative decoding's, if any
        projector = load_projector(first.spec, model, log)  # reads images, if any
    except RunnerError as error:
        out.send([LoadFailed(reason=error.reason, log=error.log)])
        return 1
    engine = Engine(model, draft, projector)
    out.send([RunnerReady(info=model.info())])
    try:
        RunnerLoop(engine, inbox, out, heartbeats).run()
    except BrokenPipeError:
        return 0  # the server is gone: nobody is left to answer
    finally:
        engine.close()
        model.close()
        if draft is not None:
            draft.close()
        if projector is not None:
            projector.close()
    return 0


class Events:
    """The protocol's stdout, written whole line batches at a time by the loop and the
    heartbeat thread alike."""

    def __init__(self, out: BinaryIO) -> None:
        self._out, self._lock = out, threading.Lock()

    def send(self, events: Iterable[BaseModel]) -> None:
        data = b"".join(encode(event) for event in events)
        if data:
            with self._lock:
                self._out.write(data)
                self._out.flush()


class Heartbeats(threading.Thread):
    """Sends a :class:`Heartbeat` every :data:`HEARTBEAT_S` with the loop's turns so far."""

    def __init__(self, out: Events) -> None:
        super().__init__(name="heartbeats", daemon=True)
        self.out = out
        self.steps = 0
        """Turns of the runner's loop; written by the loop only."""

    def run(self) -> None:
        try:
            while True:
                self.out.send([Heartbeat(steps=self.steps)])
                time.sleep(HEARTBEAT_S)
        except (BrokenPipeError, ValueError, OSError):
            return  # the server is gone, or the process is ending


class RunnerLoop:
    """Alternates between handling the commands that arrived and one engine step."""

    def __init__(self, engine: Engine, inbox: Inbox, out: Events, heartbeats: Heartbeats) -> None:
        self.engine, self.inbox, self.out, self.heartbeats = engine, inbox, out, heartbeats

    def run(self) -> None:
        while True:
            events: list[BaseModel] = []
            for command in self._receive(block=not self.engine.busy):
                if command is None or isinstance(command, Shutdown):
                    return
                events += self._handle(command)
            if self.engine.busy:
                events += self._step()
            self.out.send(events)
            self.heartbeats.steps += 1  # one more turn: the runner is not stuck

    def _receive(self, *, block: bool) -> list[Command | None]:
        commands = [self.inbox.get()] if block else []
        try:
            while True:
                commands.append(self.inbox.get_nowait())
        except queue.Empty:
            return commands

    def _step(self) -> list[BaseModel]:
        try:
            return list(self.engine.step())
        except Exception as error:  # a bug here must not take the other requests' runner down
            traceback.print_exc()
            return list(self.engine.fail_all(f"runner error: {error}"))

    def _handle(self, command: Command) -> list[BaseModel]:
        engine = self.engine
        if isinstance(command, Cancel):
            return list(engine.cancel(command.id))
        if isinstance(command, Load):
            print("runner: ignoring a second 'load'", file=sys.stderr)
            return []
        assert not isinstance(command, Shutdown)
        try:
            if isinstance(command, Generate):
                engine.submit(command.id, command.request)
                return []
            if isinstance(command, Embed):
                return list(engine.submit_embed(command.id, command.texts, command.truncate))
            if isinstance(command, Tokenize):
                value: object = engine.model.tokenize(command.text, parse_special=command.special)
            elif isinstance(command, Detokenize):
                value = engine.model.detokenize(command.tokens)
            return [ResultComputed(id=command.id, value=value)]
        except LadleError as error:
            return [failure_of(command.id, error)]
        except Exception as error:
            traceback.print_exc()
            return [RequestFailed(id=command.id, kind="runner", message=f"runner error: {error}")]


def _read_commands(inbox: Inbox) -> None:
    for line in sys.stdin.buffer:
        try:
            inbox.put(COMMANDS.validate_json(line))
        except ValidationError as error:
            print(f"runner: ignoring a malformed command: {error}", file=sys.stderr)
    inbox.put(None)


def _claim_stdout() -> BinaryIO:
    """The protocol's own handle on stdout; fd 1 and ``sys.stdout`` now go to stderr."""
    protocol = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(protocol, "wb")
