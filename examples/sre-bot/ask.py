"""Ask sre-bot the seed question over ladle's HTTP API and print the JSON answer.

``make demo`` runs this against the ``ladle serve`` it started in the background: it
waits for the server (``LADLE_HOST``), sends one non-streamed ``/api/generate`` request,
prints the answer and exits 0 if the server answered 200.
"""

from __future__ import annotations

import json
import os
import sys
import time

import httpx

REQUEST = {
    "model": "sre-bot",
    "prompt": "How do I find the process using port 8080?",
    "stream": False,
}
STARTUP_TIMEOUT_S = 60


def main() -> int:
    host = os.environ.get("LADLE_HOST", "127.0.0.1:11434").removeprefix("http://")
    url = f"http://{host}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        try:
            httpx.get(f"{url}/api/version", timeout=1).raise_for_status()
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                print(f"ladle serve did not answer at {url}", file=sys.stderr)
                return 1
            time.sleep(0.2)
    print(f"$ curl {url}/api/generate -d '{json.dumps(REQUEST)}'")
    response = httpx.post(f"{url}/api/generate", json=REQUEST, timeout=600)
    print(json.dumps(response.json(), indent=2, ensure_ascii=False))
    return 0 if response.status_code == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
