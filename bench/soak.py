"""A soak of ``ladle serve`` under valid and hostile traffic at once (issue 16).

    python -m bench.soak                         # 3 minutes on SmolLM2 (make bench)
    python -m bench.soak --quick                 # 30 s on the tests' tiny model
    python -m bench.soak --report docs/BENCHMARKS.md   # and write its section there

For a few minutes, clients send what users send (streamed and whole generations and
chats, embeddings, ``/api/tags``, ``/api/show``, ``/api/ps``) while others send what
hostile or broken clients send (:mod:`bench.soak_traffic`): streams abandoned after a
line, requests given up while queued, an embedding of 20,000 texts abandoned after a
second, uploads trickling a byte a second, uploads cut short, bodies over the size
limit, bodies that are not JSON, unknown models. A prober asks ``/api/version`` every
:data:`PROBE_EVERY_S` throughout. The figures: every answer by status (a 5xx is a
failure: hostile work must get a 4xx, or nothing when its client left), the probe's p99
latency, and the RSS of the server and of its runners after the warm-up and at the end.

The results go to ``bench/results/<date>-<host>-soak[-quick].json``; with ``--report``
the "Soak" section of that markdown file is written (replaced if there), so that
``make bench`` adds it to docs/BENCHMARKS.md after ``python -m bench`` regenerates it.
The run is also a module of the bench harness (:func:`run`).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import shlex
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.machine import commit
from bench.servers import MIB, free_port, process_tree, started
from bench.serving_models import SMOLLM2_NAME, smollm2, tiny_model
from bench.soak_report import write_section
from bench.soak_traffic import Tally, hostile_client, prober, valid_client
from bench.stats import percentile

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
MINUTES = {False: 3.0, True: 0.5}
"""How long the traffic runs (full, quick)."""
CLIENTS = {"valid": 3, "hostile": 3}
PROBE_EVERY_S = 0.1
MODELFILE = "FROM {path}\nPARAMETER num_ctx 2048\nPARAMETER temperature 0.7\n"
P99_TARGET_MS = 50.0
"""Issue 16's target for ``/api/version`` while hostile work runs."""


def rss_mib(pids: list[int]) -> float:
    """VmRSS of ``pids`` together, in MiB (a process gone counts 0)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return round(total / MIB, 1)


def memory(server_pid: int) -> dict[str, float]:
    """The server's RSS and its runners' (every descendant), in MiB."""
    runners = process_tree(server_pid)[1:]
    return {"server": rss_mib([server_pid]), "runners": rss_mib(runners), "n_runners": len(runners)}


def build_store(folder: Path, model: Path) -> Path:
    """A store with ``soak`` (to generate) and ``soak-embed`` (the same weights, for
    embeddings: a runner loads for one or the other, so each gets its own name)."""
    from builder.pipeline.build import build_file
    from builder.store.store import Store

    store = Store(folder / "models")
    modelfile = folder / "Modelfile"
    modelfile.write_text(MODELFILE.format(path=model), encoding="utf-8")
    for name in ("soak", "soak-embed"):
        build_file(modelfile, name, store, lock="off")
    return store.root


async def traffic(url: str, seconds: float) -> Tally:
    """Every client at once for ``seconds``; what they saw."""
    tally = Tally()
    deadline = time.monotonic() + seconds
    clients = [prober(url, tally, deadline, PROBE_EVERY_S)]
    clients += [valid_client(url, tally, deadline, n) for n in range(CLIENTS["valid"])]
    clients += [hostile_client(url, tally, deadline, n) for n in range(CLIENTS["hostile"])]
    await asyncio.gather(*clients)
    return tally


async def warm_up(url: str) -> None:
    """Load both runners before the first RSS reading."""
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=300) as http:
        body = {"model": "soak", "prompt": "hi", "stream": False, "options": {"num_predict": 2}}
        (await http.post("/api/generate", json=body)).raise_for_status()
        (
            await http.post("/api/embed", json={"model": "soak-embed", "input": "hi"})
        ).raise_for_status()


def soak(quick: bool, minutes: float) -> dict[str, Any]:
    """Start a server over a fresh store, warm it, run the traffic, read the figures."""
    with tempfile.TemporaryDirectory(prefix="ladle-soak-") as work:
        folder = Path(work)
        model = tiny_model(folder) if quick else smollm2()
        models = build_store(folder, model)
        port = free_port()
        env = {**os.environ, "LADLE_MODELS": str(models), "LADLE_HOST": f"127.0.0.1:{port}"}
        argv = [sys.executable, "-m", "ladle", "serve"]
        with started(argv, port, env, ROOT) as server:
            server.wait_ready("/api/version")
            asyncio.run(warm_up(server.url))
            before = memory(server.pid)
            tally = asyncio.run(traffic(server.url, minutes * 60))
            after = memory(server.pid)
            log = server.log.read_text(errors="replace")
    return figures(tally, before, after, log) | {
        "model": "tiny (tests' fixture)" if quick else SMOLLM2_NAME,
        "minutes": minutes,
        "clients": CLIENTS,
    }


def figures(
    tally: Tally, before: dict[str, float], after: dict[str, float], log: str
) -> dict[str, Any]:
    """The results of one soak, as the JSON file and the report keep them."""
    probe = tally.version_ms
    return {
        "requests": sum(tally.statuses.values()),
        "by_kind": {kind: dict(sorted(seen.items())) for kind, seen in sorted(tally.kinds.items())},
        "statuses": dict(sorted(tally.statuses.items())),
        "server_errors": tally.server_errors,
        "server_error_examples": tally.examples[:5],
        "tracebacks_in_log": log.count("Traceback"),
        "version_probe": {
            "count": len(probe),
            "p50_ms": round(percentile(probe, 50), 2),
            "p99_ms": round(percentile(probe, 99), 2),
            "max_ms": round(max(probe), 2),
            "target_p99_ms": P99_TARGET_MS,
        },
        "rss_mib": {"start": before, "end": after},
    }


def machine() -> dict[str, Any]:
    """Where the soak ran: enough to compare two runs (the full facts are bench's)."""
    from runtime.hardware import detect

    cpu = detect().cpu
    return {
        "host": socket.gethostname(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu": cpu.model,
        "physical_cores": cpu.physical_cores,
        "logical_cores": cpu.logical_cores,
        "cpu_quota": cpu.quota,
        "commit": commit(),
    }


def run(quick: bool = False) -> dict[str, Any]:
    """The bench harness's entry point: one soak and the machine it ran on."""
    return {"machine": machine(), **soak(quick, MINUTES[quick])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="30 s on the tiny model")
    parser.add_argument("--minutes", type=float, help="how long the traffic runs")
    parser.add_argument("--report", type=Path, help="write the Soak section into this file")
    args = parser.parse_args(argv)
    command = shlex.join(["python", "-m", "bench.soak", *(argv or sys.argv[1:])])
    where = machine()
    results: dict[str, Any] = {"command": command, "machine": where}
    results |= soak(args.quick, args.minutes or MINUTES[args.quick])
    stem = f"{where['date'][:10]}-{where['host']}-soak"
    path = RESULTS / f"{stem}{'-quick' if args.quick else ''}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {os.path.relpath(path)}")
    if args.report is not None:
        write_section(args.report, results, path)
        print(f"wrote the Soak section of {os.path.relpath(args.report)}")
    return 0 if results["server_errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
