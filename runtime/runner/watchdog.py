"""Telling a runner that stopped or hung from one that is merely busy.

A runner sends a heartbeat every :data:`~runtime.runner.messages.HEARTBEAT_S` from a
thread of its own, with the number of turns its loop has made. So:

- a runner that sends nothing at all for :data:`SILENCE_S` (or its ``runner_timeout``,
  if shorter) has stopped: SIGSTOP, a frozen machine, a deadlock that holds the GIL;
- a runner that still beats but, with work the server waits for, turns its loop no more
  for ``runner_timeout`` is stuck inside a step (a hang in llama.cpp): a step that is
  merely long (a batch of a large prompt on a CPU) finishes well within it.

Either is killed by :class:`runtime.runner.client.RunnerProcess`. A runner with no work
may wait for its next command as long as it likes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .messages import HEARTBEAT_S, Heartbeat

SILENCE_S = 10.0
"""How long a loaded runner may send nothing (not even a heartbeat) before it is taken
for stopped."""


class Watchdog:
    """Tells, from what a runner sends, whether it stopped or hung (see the module's
    docstring); times are ``time.monotonic()``'s."""

    def __init__(self, runner_timeout: float, busy: Callable[[], bool]) -> None:
        self.timeout, self.silence = runner_timeout, min(SILENCE_S, runner_timeout)
        self._busy = busy
        now = time.monotonic()
        self._heard = self._moved = self._checked = now
        self._steps = -1

    def started(self, now: float) -> None:
        """A request went to a runner that had none: its first step is due from now."""
        self._moved = now

    def heard(self, now: float, event: object) -> None:
        """Any event shows the runner alive; a request's event, or a heartbeat with more
        turns of its loop, shows it moving."""
        self._heard = now
        if not isinstance(event, Heartbeat):
            self._moved = now
        elif event.steps != self._steps:
            self._steps, self._moved = event.steps, now

    def check(self, now: float) -> str | None:
        """Why the runner is to be killed now, or ``None``."""
        # A late check means the server's own loop was held up, and the events that
        # came meanwhile are not read yet: judge at the next one.
        late = now - self._checked > 4 * HEARTBEAT_S
        self._checked = now
        if late:
            return None
        if now - self._heard > self.silence:
            return f"sent nothing for {now - self._heard:.0f} s (stopped?)"
        if self._busy() and now - self._moved > self.timeout:
            return f"finished no step in {self.timeout:g} s while busy (hung?)"
        return None
