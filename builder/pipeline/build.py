"""One build, end to end: Modelfile -> spec -> (bundled base) -> plan -> execute -> tag.

A build is *staged* before it is tagged: :func:`~builder.pipeline.execute.write_blobs` writes
every blob and the config and returns the manifest without tagging it. Only then is the
image's lock known, so that ``--locked`` compares it with ``Modelfile.lock`` before
anything is tagged:

* a build whose lock differs is refused with a diff; its blobs stay in the store,
  unreferenced (content-addressed, so harmless), and no tag changes;
* a bundled base model that must be built first is staged and checked the same way, on
  its own entry (``from``), before it is tagged, since the image depends on it;
* the weights are copied before they are compared (the copy is what hashes them), so a
  refused build of a changed multi-GB file costs one copy, never a wrong tag.

The lock is written after the tag: a build killed in between leaves the previous lock,
which the next build replaces.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import modelfile
from builder.pipeline import lockfile
from builder.pipeline.check import refuse_unknown_output_names
from builder.pipeline.execute import write_blobs
from builder.pipeline.lockfile import Lockfile
from builder.pipeline.options import BuildOptions
from builder.pipeline.plan import modelfile_folder, plan
from builder.pipeline.resolver import BundledBase, Resolver
from builder.store import media_types
from builder.store.config import ImageConfig
from builder.store.manifest import Manifest, digest_of
from builder.store.names import ModelName
from builder.store.progress import ProgressEvent, ProgressSink
from builder.store.store import Store
from ladle.errors import BuildError, TemplateError
from modelfile import ModelSpec
from modelfile.nodes import Draft, Template

LockMode = Literal["write", "locked", "off"]
"""``write`` Modelfile.lock after the build; check the build against it (``locked``); or
neither read nor write it (``off``)."""


@dataclass(frozen=True)
class StagedImage:
    """An image whose blobs are in the store but whose tag is not written yet."""

    name: ModelName
    manifest: Manifest
    digest: str
    lock: Lockfile


def build_file(
    path: Path,
    name: str,
    store: Store,
    progress: ProgressSink | None = None,
    lock: LockMode = "write",
    options: BuildOptions | None = None,
) -> str:
    """Build the Modelfile at ``path`` as ``name``; returns the image's manifest digest.

    With ``lock="locked"``, a build whose inputs or result differ from ``Modelfile.lock``
    raises ``BuildError`` with the diff, and nothing is tagged.
    """
    parsed = modelfile.parse_file(path)
    spec = parsed.validate()
    refuse_unknown_output_names(parsed)  # at its line and column, before anything is read
    lock_path = lockfile.lock_path(path)
    expected = lockfile.read(lock_path) if lock == "locked" else None
    folder = modelfile_folder(path)
    options = _with_draft_place(parsed, options)
    # 'ladle prune' refuses to run until the blobs are tagged
    with store.in_use(), _template_errors_located(parsed):
        staged = stage(spec, ModelName.parse(name), store, folder, progress, expected, options)
        if expected is not None:
            _check(expected, staged.lock, lock_path)
        digest = tag(staged, store, progress)
    if lock == "write":
        lockfile.write(lock_path, staged.lock)
    return digest


def _with_draft_place(parsed: modelfile.Modelfile, options: BuildOptions | None) -> BuildOptions:
    """``options`` naming where the Modelfile's DRAFT is, for the draft's build errors (the
    last DRAFT counts, as the spec keeps it)."""
    options = options or BuildOptions()
    drafts = [item for item in parsed.instructions if isinstance(item, Draft)]
    if not drafts:
        return options
    span, name = drafts[-1].span, parsed.path or "<string>"
    return options.model_copy(update={"draft_at": f"{name}:{span.line}:{span.column}"})


@contextlib.contextmanager
def _template_errors_located(parsed: modelfile.Modelfile) -> Iterator[None]:
    """A broken TEMPLATE names its Modelfile line as well as its own line and column.

    The Modelfile's last TEMPLATE replaces any other, so a template error while it has
    one is that template's.
    """
    try:
        yield
    except TemplateError as error:
        templates = [item for item in parsed.instructions if isinstance(item, Template)]
        if error.origin is not None or not templates:
            raise
        origin = f"{parsed.path}:{templates[-1].span.line} (TEMPLATE)"
        raise TemplateError(
            error.reason, line=error.line, column=error.column, origin=origin
        ) from None


def build_spec(
    spec: ModelSpec,
    name: ModelName,
    store: Store,
    folder: Path,
    progress: ProgressSink | None = None,
    options: BuildOptions | None = None,
) -> str:
    """Build ``spec`` as ``name``, building a bundled base model first if it is needed."""
    with store.in_use():  # 'ladle prune' refuses to run until the blobs are tagged
        staged = stage(spec, name, store, folder, progress, options=options)
        return tag(staged, store, progress)


def stage(
    spec: ModelSpec,
    name: ModelName,
    store: Store,
    folder: Path,
    progress: ProgressSink | None = None,
    expected: Lockfile | None = None,
    options: BuildOptions | None = None,
) -> StagedImage:
    """Write ``spec``'s blobs into ``store`` and return the image, untagged.

    A bundled base is built (and tagged) first, as it is, unless it contradicts
    ``expected``; ``options`` (quantization) apply to the image itself.
    """
    hub = options.hub if options is not None else None
    pins = lockfile.pins(expected) if expected else None
    resolver = Resolver(store, folder, hub, pins, progress)
    base = resolver.resolve(spec.from_)
    if isinstance(base, BundledBase):
        _build_bundled(base, store, folder, progress, expected)
    draft = resolver.resolve(spec.draft) if spec.draft is not None else None
    if isinstance(draft, BundledBase):
        _build_bundled(draft, store, folder, progress, None)
    the_plan = plan(spec, name, resolver, options)
    manifest = write_blobs(the_plan, store, progress)
    config = ImageConfig.model_validate_json(store.read_blob(manifest.config.digest))
    digest = digest_of(manifest.to_bytes())
    return StagedImage(name, manifest, digest, lockfile.lock_of(the_plan, config, digest, folder))


def tag(staged: StagedImage, store: Store, progress: ProgressSink | None = None) -> str:
    """Point ``staged.name`` at the staged image; returns its manifest digest."""
    with store.lock(staged.name):
        digest = store.put_manifest(staged.name, staged.manifest)
    if progress is not None:
        progress(ProgressEvent("success"))
    return digest


def _build_bundled(
    base: BundledBase,
    store: Store,
    folder: Path,
    progress: ProgressSink | None,
    expected: Lockfile | None,
) -> None:
    if progress is not None:
        progress(ProgressEvent(f"building the bundled base {base.model.name}"))
    text = base.model.modelfile_text()
    bundled_spec = modelfile.parse(text, f"<bundled {base.model.name}>").validate()
    staged = stage(bundled_spec, ModelName.parse(base.model.name), store, folder, progress)
    if expected is not None:
        models = staged.manifest.layers_of(media_types.MODEL)
        weights = models[0].digest if models else None
        entry = lockfile.image_lock(base.reference, staged.digest, weights)
        _check(expected, expected.model_copy(update={"from_": entry}), None)
    tag(staged, store)


def _check(expected: Lockfile, actual: Lockfile, path: Path | None) -> None:
    """Refuse a build whose lock differs from the expected one, showing the diff."""
    name = path.name if path is not None else "Modelfile.lock"
    diff = lockfile.compare(expected, actual, name)
    if diff:
        raise BuildError(
            f"{name} does not match this build (--locked), so nothing was tagged:\n"
            + "\n".join(diff)
            + "\nrun 'ladle create' without --locked to update the lock"
        )
