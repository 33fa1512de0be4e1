"""``python -m bench``: measure every area, save the results, write the report.

    python -m bench                      # the full run (make bench)
    python -m bench --quick              # a smoke run of a couple of minutes (make bench-quick)
    python -m bench --only serving tui   # some modules only
    python -m bench --report-only bench/results/2026-11-26-vm.json   # render, no measuring
    python -m bench --report-only NEW.json --previous OLD.json       # and compare two runs

Results go to ``bench/results/<date>-<host>[-quick][-only-…].json``. The full run's
report is ``docs/BENCHMARKS.md`` (charts in ``docs/benchmarks/``); a quick or partial
run's report goes beside its results file, so smoke figures never replace the real ones.
A full run keeps the target figures of the previous full run of the same host (read from
its results file before it is replaced) for the report's reproducibility section.

Each module runs in a child process (``--module NAME --write FILE``): a crash inside
llama.cpp, an exception or a hang in one module is recorded as ``{"error": …}`` under its
key and the run goes on with the next. Machine facts, the memory bandwidth among them,
are measured first, while the machine is quietest.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from bench import REPO, machine, reproducibility
from bench.report import DOCS_REPORT, write_report
from bench.targets import evaluate

RESULTS = Path(__file__).parent / "results"
MODULES = {
    "modelfile_parse": "bench.modelfile_parse",
    "builder": "bench.builder_bench",
    "render": "bench.render_bench",
    "registry": "bench.registry_bench",
    "serving": "bench.serving",
    "speculation": "bench.speculation",
    "tui": "bench.tui_bench",
    "prompt_cache": "bench.prompt_cache",
    "kv_cache": "bench.kv_cache",
    "convert": "bench.convert",
    "vision": "bench.vision_bench",
    "cluster": "bench.cluster",
}
"""Results key → the module whose ``run(quick)`` measures it, in the order they run."""

PACKAGES = ("grammar", "modelfile", "builder", "runtime", "tui", "ladle")
"""ladle's packages (pyproject's list), compiled to bytecode before anything is timed."""

TIMEOUT_S = {False: 40 * 60, True: 20 * 60}
"""How long one module may run (full, quick) before it is killed and recorded as failed:
a guard against hangs, generous enough for a first build of llama.cpp's server."""


def measure(name: str, quick: bool) -> dict[str, Any]:
    """Run the module ``name`` (dotted) in this process; a failure becomes ``{"error": …}``
    and a module that is not there ``{"skipped": …}``."""
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name == name:
            return {"skipped": f"{name} is not there"}
        return {"error": f"{name} cannot be imported: {error}"}
    try:
        result = dict(module.run(quick=quick))
        json.dumps(result, allow_nan=False)  # the results file must be plain JSON
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
    return result


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """End the module's process and whatever servers it started (its process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run_isolated(name: str, quick: bool, timeout: float | None = None) -> dict[str, Any]:
    """Run the module ``name`` in a child process (its own process group, from the
    repository root) and read back what it measured, or why it measured nothing."""
    limit = TIMEOUT_S[quick] if timeout is None else timeout
    with tempfile.TemporaryDirectory(prefix="ladle-bench-") as folder:
        out = Path(folder) / "result.json"
        argv = [sys.executable, "-m", "bench", "--module", name, "--write", str(out)]
        process = subprocess.Popen(
            [*argv, *(["--quick"] if quick else [])], cwd=REPO, start_new_session=True
        )
        try:
            code = process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            return {"error": f"still running after {limit:.0f} s; killed"}
        except BaseException:
            _kill_group(process)
            raise
        if out.is_file():
            result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
            return result
        why = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        return {"error": f"the module's process ended with {why} and no results"}


def _command(argv: list[str]) -> str:
    python = Path(sys.executable)
    shown = os.path.relpath(python, Path.cwd()) if python.is_relative_to(Path.cwd()) else python
    return shlex.join([str(shown), "-m", "bench", *argv])


def results_path(date: str, host: str, quick: bool, only: list[str]) -> Path:
    """``bench/results/<date>-<host>[-quick][-only-a-b].json``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", host)
    stem = f"{date[:10]}-{safe}{'-quick' if quick else ''}"
    return RESULTS / f"{stem}{'-only-' + '-'.join(only) if only else ''}.json"


def previous_results(path: Path, folder: Path = RESULTS) -> dict[str, Any] | None:
    """What a full run saving to ``path`` is compared with: the figures of the latest full
    run of the same host up to that date, ``path`` itself included (it is about to be
    replaced); None when there is none."""
    host = path.name.split("-", 3)[3]  # <date>-<host>.json: the date has two dashes
    earlier = [
        each for each in folder.glob(f"????-??-??-{host}") if each.name[:10] <= path.name[:10]
    ]
    for candidate in sorted(earlier, reverse=True):
        found = reproducibility.previous_of(candidate)
        if found is not None:
            return found
    return None


def default_report(results: dict[str, Any], path: Path) -> Path:
    """Where a results file's report goes: docs/ for a full run, beside it otherwise."""
    return path.with_suffix(".md") if results.get("quick") or results.get("only") else DOCS_REPORT


def _write_json(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)


def run_all(keys: list[str], quick: bool, argv: list[str]) -> tuple[dict[str, Any], Path]:
    """Machine facts, then every module in ``keys``: the results and where they were
    saved. They are saved after each module too, so an interrupted run keeps its figures."""
    started = time.perf_counter()
    command = _command(argv)
    compile_packages()
    print("bench: machine facts and memory bandwidth", file=sys.stderr)
    facts = machine.facts(command, quick)
    results: dict[str, Any] = {"date": facts["date"], "quick": quick, "command": command}
    if len(keys) < len(MODULES):
        results["only"] = keys
        results.update(
            (key, {"skipped": "not selected (--only)"}) for key in MODULES if key not in keys
        )
    results["machine"] = facts
    results["modules"] = {}
    path = results_path(facts["date"], facts["host"], quick, results.get("only", []))
    if not (quick or results.get("only")):
        previous = previous_results(path)
        if previous is not None:
            results["previous"] = previous
    for key in keys:
        print(f"bench: {key} ({MODULES[key]})", file=sys.stderr)
        began = time.perf_counter()
        results[key] = run_isolated(MODULES[key], quick)
        wall = time.perf_counter() - began
        results["modules"][key] = {"module": MODULES[key], "wall_s": wall}
        failed = results[key].get("error") or results[key].get("skipped")
        print(
            f"bench: {key} {'— ' + str(failed) if failed else 'done'} ({wall:.1f} s)",
            file=sys.stderr,
        )
        _write_json(path, results)
    results["wall_s"] = time.perf_counter() - started
    _write_json(path, results)
    return results, path


def compile_packages() -> None:
    """Write the bytecode of ladle's packages, as ``pip install`` does. An editable
    install (this checkout's) run with ``PYTHONDONTWRITEBYTECODE`` set would otherwise
    compile every module again at each start of ``ladle``, and the command-line figures
    would time the compiler (about 50 ms of each ``ladle create``)."""
    import compileall

    for package in PACKAGES:
        compileall.compile_dir(REPO / package, quiet=1)


def _attach_previous(results: dict[str, Any], path: Path, earlier: Path) -> None:
    previous = reproducibility.previous_of(earlier)
    if previous is None:
        raise SystemExit(f"bench: {earlier} is not the results file of a full run")
    results["previous"] = previous
    _write_json(path, results)


def _summary(results: dict[str, Any]) -> None:
    """One line per target: its status, the figure, and the comparison or the reason."""
    for outcome in evaluate(results):
        target = outcome.target
        print(f"{outcome.status:>12}  issue {target.issue}: {target.figure} — {outcome.detail}")


def _load(path: Path) -> dict[str, Any]:
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SystemExit(f"bench: cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise SystemExit(f"bench: {path} is not a results file (invalid JSON: {error})") from None
    if not isinstance(results, dict):
        raise SystemExit(f"bench: {path} is not a results file (not a JSON object)")
    return results


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run ladle's benchmarks and write bench/results/*.json and the report.",
    )
    parser.add_argument("--quick", action="store_true", help="small inputs, few runs, tiny model")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(MODULES),
        metavar="NAME",
        help=f"run only these: {', '.join(MODULES)}",
    )
    parser.add_argument(
        "--report-only",
        type=Path,
        metavar="RESULTS.json",
        help="render the report of a results file; measure nothing",
    )
    parser.add_argument(
        "--output",
        type=Path,
        metavar="REPORT.md",
        help="where the report goes (default: docs/BENCHMARKS.md after a full run, else beside"
        " the results file)",
    )
    parser.add_argument(
        "--previous",
        type=Path,
        metavar="EARLIER.json",
        help="with --report-only: compare with this earlier full run (kept in the results file)",
    )
    parser.add_argument("--module", metavar="DOTTED.NAME", help=argparse.SUPPRESS)
    parser.add_argument("--write", type=Path, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    if args.module:  # a child of run_isolated
        if args.write is None:
            raise SystemExit("bench: --module needs --write FILE")
        _write_json(args.write, measure(args.module, args.quick))
        return 0
    if args.report_only:
        results = _load(args.report_only)
        path = args.report_only
        if args.previous is not None:
            _attach_previous(results, path, args.previous)
    else:
        results, path = run_all(args.only or list(MODULES), args.quick, argv)
    written = write_report(results, path, args.output or default_report(results, path))
    _summary(results)
    for each in written if args.report_only else [path, *written]:
        print(f"wrote {os.path.relpath(each)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
