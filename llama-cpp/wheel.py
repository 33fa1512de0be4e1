"""Build and install llama-cpp-python with ladle's patches to the llama.cpp it vendors.

``make demo`` and ``make test`` run this before installing ladle, with the virtual
environment's Python: ``python llama-cpp/wheel.py``. It

1. downloads the llama-cpp-python sdist of :data:`VERSION` (``pip download``, which keeps
   it in pip's cache),
2. applies every ``patches/*.patch`` in name order (``patch -p1``; a patch that does not
   apply stops the build with its output),
3. sets the package's version to ``VERSION+ladle.<key>``, a PEP 440 local version that
   still satisfies ladle's ``llama-cpp-python`` requirement and tells anyone who looks
   (``pip show``, ``ladle doctor``) that this build carries the patches,
4. builds the wheel with ``pip wheel`` (CMake, about 6 minutes on 2 cores; CMAKE_ARGS from
   the environment, as for a plain ``pip install``), keeps it under
   ``~/.cache/ladle/wheels/`` and installs it.

``<key>`` is a digest of everything the wheel depends on: the version, the patches,
CMAKE_ARGS, the compiler and the CPU's flags (llama.cpp builds with ``-march=native``, so a
wheel built on one CPU may not run on another). A key that is already installed does
nothing; a key whose wheel is cached only installs it.

Standard library only: it runs before any of ladle's dependencies are installed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path

VERSION = "0.3.36"
PACKAGE = "llama-cpp-python"
HERE = Path(__file__).resolve().parent
PATCHES = HERE / "patches"
CACHE = Path(os.environ.get("LADLE_WHEEL_CACHE", Path.home() / ".cache" / "ladle" / "wheels"))


class WheelError(Exception):
    """A step of the build failed; the message says which and why."""


def patches() -> list[Path]:
    return sorted(PATCHES.glob("*.patch"))


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return (done.stdout.splitlines() or [""])[0]


def _cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return _first_line(["sysctl", "-n", "machdep.cpu.features", "hw.optional"])
    match = re.search(r"^(?:flags|Features)\s*:\s*(.*)$", text, re.MULTILINE)
    return match.group(1) if match else ""


def build_key() -> str:
    """A digest of everything the wheel depends on (see the module docstring)."""
    digest = hashlib.sha256()
    for part in (
        VERSION,
        os.environ.get("CMAKE_ARGS", ""),
        _first_line([os.environ.get("CXX", "c++"), "--version"]),
        _cpu_flags(),
        *(path.name + "\0" + path.read_text() for path in patches()),
    ):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:12]


def local_version(key: str) -> str:
    return f"{VERSION}+ladle.{key}"


def installed() -> str | None:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return None


def _run(argv: list[str], cwd: Path | None = None, quiet: bool = False) -> None:
    try:
        done = subprocess.run(
            argv, cwd=cwd, check=False, capture_output=quiet, text=True, stdin=subprocess.DEVNULL
        )
    except OSError as error:  # the program is missing: patch, most likely
        raise WheelError(f"cannot run {argv[0]}: {error.strerror}") from error
    if done.returncode != 0:
        output = (done.stdout or "") + (done.stderr or "") if quiet else ""
        raise WheelError(f"{' '.join(argv[:4])} ... failed ({done.returncode})\n{output}")


def _source(work: Path) -> Path:
    """The sdist of :data:`VERSION`, unpacked under ``work``."""
    download = work / "sdist"
    _run(
        [
            *(sys.executable, "-m", "pip", "download", f"{PACKAGE}=={VERSION}"),
            *("--no-binary", ":all:", "--no-deps", "--quiet", "-d", str(download)),
        ]
    )
    archives = sorted(download.glob("*.tar.gz"))
    if not archives:
        raise WheelError(f"pip download gave no {PACKAGE} {VERSION} sdist")
    with tarfile.open(archives[0]) as archive:
        archive.extractall(work, filter="data")
    source = work / f"llama_cpp_python-{VERSION}"
    if not (source / "vendor" / "llama.cpp").is_dir():
        raise WheelError(f"the sdist has no vendored llama.cpp under {source}")
    return source


def _patch(source: Path, key: str) -> None:
    for path in patches():
        print(f"  applying {path.relative_to(HERE.parent)}", flush=True)
        _run(["patch", "-p1", "--forward", "--batch", "-i", str(path)], cwd=source, quiet=True)
    init = source / "llama_cpp" / "__init__.py"
    text = init.read_text()
    stock = f'__version__ = "{VERSION}"'
    if stock not in text:
        raise WheelError(f"{init} does not say {stock}")
    init.write_text(text.replace(stock, f'__version__ = "{local_version(key)}"'))


def build(key: str) -> Path:
    """The cached wheel for ``key``, built first if there is none."""
    folder = CACHE / PACKAGE / key
    wheels = sorted(folder.glob("*.whl"))
    if wheels:
        return wheels[0]
    print(
        f"building {PACKAGE} {VERSION} with ladle's patches to llama.cpp "
        "(about 6 minutes on 2 cores; the wheel is kept in "
        f"{folder})",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="ladle-wheel-") as tmp:
        work = Path(tmp)
        source = _source(work)
        _patch(source, key)
        out = work / "wheel"
        _run(
            [
                *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet"),
                *("-w", str(out), str(source)),
            ]
        )
        built = sorted(out.glob("*.whl"))
        if not built:
            raise WheelError(f"pip wheel gave no wheel in {out}")
        folder.mkdir(parents=True, exist_ok=True)
        # Copied under a name of this process's own, then renamed: a wheel in the cache is
        # always whole, even when two builds of the same key finish together.
        partial = folder / f".{built[0].name}.{os.getpid()}.part"
        shutil.copyfile(built[0], partial)
        final = folder / built[0].name
        partial.replace(final)
        return final


def ensure(force: bool = False) -> str:
    """Install the patched build unless it is installed already; its version."""
    key = build_key()
    wanted = local_version(key)
    if installed() == wanted and not force:
        return wanted
    wheel = build(key)
    _run(
        [
            *(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"),
            *("--force-reinstall", str(wheel)),
        ]
    )
    return wanted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="reinstall even if installed")
    parser.add_argument(
        "--print-version", action="store_true", help="print the version this machine gets"
    )
    args = parser.parse_args(argv)
    if args.print_version:
        print(local_version(build_key()))
        return 0
    try:
        version = ensure(force=args.force)
    except WheelError as error:
        print(f"llama-cpp/wheel.py: {error}", file=sys.stderr)
        return 1
    print(f"{PACKAGE} {version} (llama.cpp with ladle's patches: llama-cpp/patches/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
