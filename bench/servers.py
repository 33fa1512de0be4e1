"""Server processes for the serving benchmark: free ports, start, wait, stop, measure RSS.

Every server runs on a free loopback port and stays in the benchmark's process group, so
that whoever runs the benchmark can end it all at once (``python -m bench`` kills the
group of a module that overruns its time). Stopping one server: SIGTERM, SIGKILL after a
grace period, then SIGKILL to any descendant still alive (``ladle serve`` starts its
runners in sessions of their own). Memory is VmRSS summed over the process tree, read
from ``/proc``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import httpx

MIB = 1024 * 1024
READY_TIMEOUT_S = 120.0
STOP_GRACE_S = 15.0


class ServerError(Exception):
    """A server did not come up; the message carries the end of its log."""


def free_port() -> int:
    """A loopback port nothing listens on now (for a server about to start; the tests'
    servers use it too)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """A started server process: its pid, its base URL and its log."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.process, self.url, self.log = process, url, log

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, path: str, timeout: float = READY_TIMEOUT_S) -> None:
        """Poll ``path`` until it answers 200 (llama-server answers 503 while loading)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"exited with {self.process.returncode}: {self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + path, timeout=2.0).status_code == 200:
                    return
            time.sleep(0.02)
        raise ServerError(f"{self.url}{path} not ready in {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, lines: int = 8) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return " | ".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM, SIGKILL after the grace period, then SIGKILL to any descendant that
        outlived it (each checked by its start time, so a reused pid is left alone)."""
        descendants = {pid: _started_at(pid) for pid in process_tree(self.process.pid)[1:]}
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid, since in descendants.items():
            if since is not None and _started_at(pid) == since:  # the same process, not a reuse
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def started(
    argv: Sequence[str], port: int, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Iterator[Server]:
    """Run ``argv`` (which listens on ``port``) until the block ends, whatever happens."""
    with tempfile.TemporaryDirectory(prefix="ladle-bench-") as folder:
        log = Path(folder) / "server.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                list(argv),
                env=dict(env if env is not None else os.environ),
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        server = Server(process, f"http://127.0.0.1:{port}", log)
        try:
            yield server
        finally:
            server.stop()


# -- memory --------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (``/proc/<pid>/task/*/children``)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                found += process_tree(int(child))
    return found


def _started_at(pid: int) -> str | None:
    """A process's start time (``/proc/<pid>/stat`` field 22): tells it from a pid reuse."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def rss_bytes(pid: int) -> int:
    """VmRSS of ``pid`` and its descendants, in bytes (0 for a process that is gone)."""
    total = 0
    for each in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


class PeakRss:
    """The largest :func:`rss_bytes` of a process tree while the block runs (every 50 ms)."""

    def __init__(self, pid: int, every_s: float = 0.05) -> None:
        self.pid, self.every_s, self.peak = pid, every_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, rss_bytes(self.pid))
            if self._stop.wait(self.every_s):
                return

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
