"""``python -m bench [--quick]``: run the benchmarks, print them, save bench/results/*.json."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import socket
from pathlib import Path
from typing import Any

from bench import (
    builder_bench,
    modelfile_parse,
    peers_bench,
    registry_bench,
    render_bench,
    runner_bench,
)

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "host": socket.gethostname(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small inputs, few runs")
    args = parser.parse_args()
    results = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "quick": args.quick,
        "modelfile_parse": modelfile_parse.run(quick=args.quick),
        "builder": builder_bench.run(quick=args.quick),
        "render": render_bench.run(quick=args.quick),
        "registry": registry_bench.run(quick=args.quick),
        "runner": runner_bench.run(quick=args.quick),
        **({} if args.quick else {"peers": peers_bench.run()}),  # needs ladle[bench]
    }
    print(json.dumps(results, indent=2))
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        name = f"{results['date'][:10]}-{results['machine']['host']}.json"
        (RESULTS / name).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
