"""Ask sre-bot the seed question with ``curl``, as Ollama's docs do, and print the answer.

``make demo`` runs this against the ``ladle serve`` it started in the background: it
waits for the server (``LADLE_HOST``), prints a ``curl …/api/generate -d '{…}'`` command
for one non-streamed request, runs that very command, and prints curl's output as
indented JSON. It exits 0 if the server answered without an error.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time

import httpx

REQUEST = {
    "model": "sre-bot",
    "prompt": "How do I find the process using port 8080?",
    "stream": False,
}
STARTUP_TIMEOUT_S = 60
ANSWER_TIMEOUT_S = 600


def main() -> int:
    host = os.environ.get("LADLE_HOST", "127.0.0.1:11434").removeprefix("http://")
    url = f"http://{host}"
    if not wait_for(url):
        print(f"ladle serve did not answer at {url}", file=sys.stderr)
        return 1
    command = ["curl", f"{url}/api/generate", "-d", json.dumps(REQUEST)]
    print(f"$ {shlex.join(command)}", flush=True)
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=ANSWER_TIMEOUT_S, check=False
        )
    except FileNotFoundError:
        print("curl is not installed (apt-get install curl)", file=sys.stderr)
        return 1
    if done.returncode != 0:
        print(done.stderr, end="", file=sys.stderr)  # curl's own message
        return done.returncode
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        print(done.stdout)
        return 1
    print(json.dumps(answer, indent=2, ensure_ascii=False))
    return 1 if "error" in answer else 0


def wait_for(url: str) -> bool:
    """Whether ``ladle serve`` answers at ``url`` within :data:`STARTUP_TIMEOUT_S`."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/api/version", timeout=1).raise_for_status()
            return True
        except httpx.HTTPError:
            time.sleep(0.2)
    return False


if __name__ == "__main__":
    sys.exit(main())
