"""``FROM hf.co/<user>/<repo>[:<quant>]``: a GGUF from a Hugging Face repository.

As Ollama reads these references: the tag names a quantization (``Q4_K_M``, ``Q8_0``,
``IQ4_XS``…, any case), matched against the repository's GGUF file names as a whole
word; without one (or with ``latest``), ``Q4_K_M`` is taken when the repository has it,
else the first of :data:`PREFERRED` it has, else its only GGUF. Projector files
(``mmproj``) are never chosen as the model; split GGUFs (``…-00001-of-00003.gguf``) are
refused. A repository that ships a vision projector beside the model gives it too
(:func:`choose_projector`), as Ollama's and llama.cpp's pulls of such repositories do.

Files come through ``huggingface_hub``, into its standard cache, with ``HF_TOKEN`` for
gated repositories; with ``HF_HUB_OFFLINE=1`` only the cache is read (its ``refs/`` name
the revision, its ``snapshots/<revision>/`` hold the files). The chat template is the
GGUF's own (``tokenizer.chat_template``), imported by the build as for any GGUF.

The build's lock records the revision (the commit) and the file, read back from the
cache path the file was opened at (:func:`pin_of`); a ``--locked`` build asks for that
revision again.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from builder.store.names import ModelName
from ladle.errors import HubError, InvalidNameError
from ladle.settings import HubSettings

HOSTS = ("hf.co", "huggingface.co")
DEFAULT_QUANT = "Q4_K_M"
PREFERRED = (
    "Q4_K_M",
    "Q4_K_S",
    "Q4_0",
    "Q5_K_M",
    "Q5_K_S",
    "Q6_K",
    "Q8_0",
    "IQ4_XS",
    "IQ4_NL",
    "Q3_K_M",
    "Q3_K_L",
    "Q2_K",
    "BF16",
    "F16",
    "F32",
)
"""Quantizations tried in order when the reference names none."""

_SPLIT = re.compile(r"-\d{5}-of-\d{5}\.gguf$", re.IGNORECASE)
_QUANT_WORD = re.compile(r"(?<![A-Za-z0-9])(I?Q\d_[A-Z0-9_]*?|BF16|F16|F32)(?=[.-]|$)", re.I)
_CACHE_FOLDER = "models--"


@dataclass(frozen=True)
class HubReference:
    """``hf.co/<user>/<repo>[:<quant>]``, parsed: the repository and the quantization."""

    text: str
    repo_id: str
    quant: str | None

    @classmethod
    def parse(cls, text: str) -> HubReference:
        bare = text.strip().removeprefix("https://")
        if not is_reference(bare) or bare.count("/") != 2:
            raise HubError(text, "expected hf.co/<user>/<repository>[:<quantization>]")
        try:
            name = ModelName.parse(bare)
        except InvalidNameError as exc:
            raise HubError(text, exc.reason) from None
        quant = None if name.tag.lower() == "latest" else name.tag
        return cls(text, f"{name.namespace}/{name.model}", quant)


@dataclass(frozen=True)
class HubFile:
    """A GGUF file chosen from a repository at one revision, and where the cache has it."""

    repo_id: str
    revision: str
    filename: str
    path: Path
    projector: Path | None = None
    """The repository's projector (``mmproj``) for this model, when it ships one."""
    projector_filename: str | None = None


@dataclass(frozen=True)
class HubPin:
    """What a lock records of a Hugging Face base: repository, revision, file."""

    repo_id: str
    revision: str
    filename: str

    @property
    def source(self) -> str:
        return f"{self.repo_id}/{self.filename}"


def is_reference(text: str) -> bool:
    """Whether ``text`` names a Hugging Face repository (``hf.co/…``, ``huggingface.co/…``)."""
    bare = text.strip().removeprefix("https://").lower()
    return any(bare.startswith(host + "/") for host in HOSTS)


def resolve(text: str, hub: HubSettings, revision: str | None = None) -> HubFile:
    """The GGUF file ``text`` names, in the local cache (downloaded first when online).

    ``revision`` (a commit, from a lock) is used instead of the repository's main branch.
    """
    reference = HubReference.parse(text)
    with _hub_errors(text, hub):
        if hub.offline:
            commit, files = _cached_files(reference, hub, revision)
        else:
            commit, files = _remote_files(reference, hub, revision)
        filename = choose_file(files, reference.quant, text)
        path = _download(reference, filename, commit, hub)
        projector = choose_projector(files, filename)
        projector_path = _download(reference, projector, commit, hub) if projector else None
    return HubFile(reference.repo_id, commit, filename, path, projector_path, projector)


def choose_file(files: list[str], quant: str | None, reference: str) -> str:
    """The GGUF of ``files`` for ``quant`` (or the preferred one when None)."""
    ggufs = sorted(f for f in files if f.lower().endswith(".gguf") and "mmproj" not in f.lower())
    if not ggufs:
        raise HubError(reference, "the repository has no GGUF file")
    for wanted in [quant] if quant else PREFERRED:
        matches = [name for name in ggufs if _quant_of(name) == wanted.upper()]
        whole = [name for name in matches if not _SPLIT.search(name)]
        if whole:
            return min(whole, key=lambda name: (name.count("/"), len(name), name))
        if matches:
            raise HubError(
                reference,
                f"the {wanted} GGUF is split into parts ({matches[0]}, …); "
                "ladle imports single-file GGUFs only",
            )
    if quant is None and len(ggufs) == 1:
        return ggufs[0]
    known = sorted({_quant_of(name) or PurePosixPath(name).name for name in ggufs})
    wanted_text = quant or f"{DEFAULT_QUANT} (or another known quantization)"
    raise HubError(
        reference, f"no GGUF file for {wanted_text}; the repository has: {', '.join(known)}"
    )


PROJECTOR_PRECISIONS = ("F16", "BF16", "F32", "Q8_0")
"""A projector's precisions, in the order taken when none matches the model's."""


def choose_projector(files: list[str], model: str) -> str | None:
    """The projector (``mmproj*.gguf``) for the GGUF ``model`` among ``files``: one in
    the model's folder, of the model's quantization when there is one, else the first of
    :data:`PROJECTOR_PRECISIONS`, else the first by name; None when there is none."""
    folder = PurePosixPath(model).parent
    found = sorted(
        name
        for name in files
        if name.lower().endswith(".gguf")
        and "mmproj" in PurePosixPath(name).name.lower()
        and PurePosixPath(name).parent == folder
    )
    for wanted in (_quant_of(model), *PROJECTOR_PRECISIONS):
        matches = [name for name in found if wanted is not None and _quant_of(name) == wanted]
        if matches:
            return matches[0]
    return found[0] if found else None


def pin_of(path: str | Path) -> HubPin | None:
    """The repository, revision and file of a path in the Hugging Face cache
    (``…/models--<user>--<repo>/snapshots/<revision>/<file>``), else None."""
    parts = Path(path).parts
    for index, part in enumerate(parts[:-3]):
        if part.startswith(_CACHE_FOLDER) and parts[index + 1] == "snapshots":
            user, _, repo = part.removeprefix(_CACHE_FOLDER).partition("--")
            filename = "/".join(parts[index + 3 :])
            return HubPin(f"{user}/{repo}", parts[index + 2], filename)
    return None


def _quant_of(filename: str) -> str | None:
    found = _QUANT_WORD.findall(PurePosixPath(filename).name.removesuffix(".gguf"))
    return found[-1].upper() if found else None


def _cached_files(
    reference: HubReference, hub: HubSettings, revision: str | None
) -> tuple[str, list[str]]:
    from huggingface_hub import snapshot_download

    try:
        folder = Path(
            str(
                snapshot_download(
                    reference.repo_id,
                    revision=revision,
                    cache_dir=hub.cache,
                    local_files_only=True,
                )
            )
        )
    except FileNotFoundError:  # huggingface_hub's LocalEntryNotFoundError
        at = f" at revision {revision}" if revision else ""
        raise HubError(
            reference.text,
            f"{reference.repo_id}{at} is not in the Hugging Face cache ({hub.cache}) "
            "and HF_HUB_OFFLINE is set",
        ) from None
    files = [path.relative_to(folder).as_posix() for path in folder.rglob("*.gguf")]
    return folder.name, files


def _remote_files(
    reference: HubReference, hub: HubSettings, revision: str | None
) -> tuple[str, list[str]]:
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub.endpoint, token=hub.token)
    info = api.model_info(reference.repo_id, revision=revision)
    if info.sha is None:
        raise HubError(reference.text, "the Hub did not say which revision it is")
    return info.sha, [sibling.rfilename for sibling in info.siblings or []]


def _download(reference: HubReference, filename: str, commit: str, hub: HubSettings) -> Path:
    from huggingface_hub import hf_hub_download

    path = hf_hub_download(
        reference.repo_id,
        filename,
        revision=commit,
        cache_dir=hub.cache,
        token=hub.token,
        local_files_only=hub.offline,
        endpoint=hub.endpoint,
    )
    return Path(str(path))


@contextlib.contextmanager
def _hub_errors(reference: str, hub: HubSettings) -> Iterator[None]:
    """Turn ``huggingface_hub`` and network failures into ``HubError``: the one boundary
    where they are translated."""
    import httpx
    from huggingface_hub import errors

    try:
        yield
    except errors.GatedRepoError:
        raise HubError(
            reference, "the repository is gated: accept its terms on huggingface.co, set HF_TOKEN"
        ) from None
    except errors.RepositoryNotFoundError:
        raise HubError(reference, "no such repository (if it is private, set HF_TOKEN)") from None
    except errors.RevisionNotFoundError:
        raise HubError(reference, "no such revision") from None
    except errors.LocalEntryNotFoundError as exc:
        reason = f"not in the Hugging Face cache ({hub.cache}): {_first_line(exc)}"
        raise HubError(reference, reason) from None
    except (errors.HfHubHTTPError, httpx.HTTPError, OSError, ValueError) as exc:
        raise HubError(reference, _first_line(exc)) from None


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]
