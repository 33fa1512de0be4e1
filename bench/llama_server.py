"""Build llama.cpp's own ``llama-server`` from the llama.cpp that llama-cpp-python vendors.

The serving benchmark compares ladle with llama.cpp's native server, and the fair build of
that server is the same llama.cpp source, compiler and CPU flags as the llama-cpp-python
ladle runs on. So the harness fetches the installed version's sdist (``pip download
--no-binary :all:``), unpacks it into ``~/.cache/ladle/bench/llama-cpp-<version>/`` and
builds only its :data:`TARGETS` (``llama-server`` and ``llama-batched-bench``) with
CMake. GGML_NATIVE is left ON, as pip's source build leaves it, and what
``.ci/llama_cmake_args.sh`` adds to the Makefile's pip install on this CPU is added here too
(on CPUs with AMX: no AMX kernels). The binaries are reused while their stamp (version,
flags, targets) matches.

``python -m bench.llama_server`` builds (or finds) it and prints the binary's path.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

CACHE = Path.home() / ".cache" / "ladle" / "bench"


def _machine_flags() -> tuple[str, ...]:
    """The CMake arguments the Makefile gives the build of llama-cpp-python on this CPU."""
    script = Path(__file__).resolve().parent.parent / ".ci" / "llama_cmake_args.sh"
    if not script.is_file():
        return ()
    done = subprocess.run(["sh", str(script)], capture_output=True, text=True, check=False)
    return tuple(shlex.split(done.stdout))


CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",  # one self-contained binary, no rpath into the build folder
    "-DGGML_NATIVE=ON",  # as pip's source build of llama-cpp-python
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TOOLS=ON",  # llama-server lives under tools/
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",  # else the build downloads the web UI
    *_machine_flags(),
)


TARGETS = ("llama-server", "llama-batched-bench")
"""What the build makes: the server, and the tool that gives continuous batching's ceiling
(:mod:`bench.batched_bench`); the second adds seconds to a build of minutes."""


class BuildError(Exception):
    """llama-server could not be fetched or built; the message says which step failed."""


@dataclass(frozen=True)
class Build:
    """A built ``llama-server``: where it is, what made it, how long the build took."""

    binary: Path
    version: str
    flags: tuple[str, ...]
    build_s: float  # 0.0 when an earlier build was reused

    def describe(self) -> str:
        return "cmake " + " ".join(self.flags)

    def tool(self, name: str) -> Path:
        """Another of :data:`TARGETS`, built beside ``llama-server``."""
        return self.binary.with_name(name)


def installed_version() -> str:
    """The installed llama-cpp-python's release. The peer is llama.cpp as released: the
    local part of a build with ladle's patches (``0.3.36+ladle.<key>``, llama-cpp/wheel.py)
    is left out, and the server is built from the unpatched sdist."""
    return metadata.version("llama-cpp-python").split("+", 1)[0]


def stamp(version: str, flags: tuple[str, ...]) -> str:
    """What a cached build must have been made from to be reused."""
    return json.dumps(
        {"version": version, "flags": list(flags), "targets": list(TARGETS)}, sort_keys=True
    )


def _step(argv: list[str], cwd: Path, log: Path) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        done = subprocess.run(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise BuildError(f"{argv[0]} {argv[1]} failed ({done.returncode}): " + " | ".join(tail))


def _source(version: str, folder: Path, log: Path) -> Path:
    """The vendored llama.cpp of the llama-cpp-python sdist, unpacked under ``folder``."""
    source = folder / f"llama_cpp_python-{version}" / "vendor" / "llama.cpp"
    if (source / "CMakeLists.txt").is_file():
        return source
    with tempfile.TemporaryDirectory() as download:
        _step(
            [
                *(sys.executable, "-m", "pip", "download", f"llama-cpp-python=={version}"),
                *("--no-binary", ":all:", "--no-deps", "-d", download),
            ],
            folder,
            log,
        )
        archives = list(Path(download).glob("*.tar.gz"))
        if not archives:
            raise BuildError("pip download gave no llama-cpp-python sdist")
        with tarfile.open(archives[0]) as archive:
            archive.extractall(folder, filter="data")
    if not (source / "CMakeLists.txt").is_file():
        raise BuildError(f"the sdist has no vendored llama.cpp at {source}")
    return source


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One build at a time per cache folder (two benchmark runs may start together)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def build(jobs: int | None = None) -> Build:
    """Build ``llama-server`` (or reuse the cached one); raise BuildError on failure."""
    version = installed_version()
    folder = CACHE / f"llama-cpp-{version}"
    with _locked(folder):
        return _build(version, folder, jobs)


def _build(version: str, folder: Path, jobs: int | None) -> Build:
    flags = CMAKE_FLAGS
    binary, stamp_file = folder / "build" / "bin" / "llama-server", folder / "stamp.json"
    built = [binary.with_name(target) for target in TARGETS]
    wanted = stamp(version, flags)
    if all(map(Path.is_file, built)) and stamp_file.is_file() and stamp_file.read_text() == wanted:
        return Build(binary, version, flags, 0.0)
    if shutil.which("cmake") is None:
        raise BuildError("cmake is not installed")
    stamp_file.unlink(missing_ok=True)
    log = folder / "build.log"
    log.write_text("")
    started = time.perf_counter()
    source = _source(version, folder, log)
    build_dir = folder / "build"
    _step(["cmake", "-S", str(source), "-B", str(build_dir), *flags], folder, log)
    cores = str(jobs or os.cpu_count() or 1)
    _step(["cmake", "--build", str(build_dir), "--target", *TARGETS, "-j", cores], folder, log)
    for path in built:
        if not path.is_file():
            raise BuildError(f"the build finished but {path} is missing")
    stamp_file.write_text(wanted)
    return Build(binary, version, flags, time.perf_counter() - started)


if __name__ == "__main__":
    try:
        made = build()
    except BuildError as error:
        raise SystemExit(f"llama-server: {error}") from None
    print(json.dumps({"binary": str(made.binary), "build_s": round(made.build_s, 1)}))
