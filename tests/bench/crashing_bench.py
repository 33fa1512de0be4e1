"""A bench module whose process dies the way an out-of-memory kill or a crash inside
llama.cpp ends it, for the orchestrator's isolation test (SIGKILL: no core file)."""

from __future__ import annotations

import os
import signal


def run(quick: bool = False) -> dict[str, object]:
    os.kill(os.getpid(), signal.SIGKILL)
    return {}
