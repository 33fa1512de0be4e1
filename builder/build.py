"""One build, end to end: Modelfile -> spec -> (bundled base) -> plan -> execute."""

from __future__ import annotations

from pathlib import Path

import modelfile
from builder.execute import ProgressEvent, ProgressSink, execute
from builder.names import ModelName
from builder.plan import modelfile_folder, plan
from builder.resolver import BundledBase, Resolver
from builder.store import Store
from modelfile import ModelSpec


def build_file(path: Path, name: str, store: Store, progress: ProgressSink | None = None) -> str:
    """Build the Modelfile at ``path`` as ``name``; returns the image's manifest digest."""
    spec = modelfile.parse_file(path).validate()
    return build_spec(spec, ModelName.parse(name), store, modelfile_folder(path), progress)


def build_spec(
    spec: ModelSpec,
    name: ModelName,
    store: Store,
    folder: Path,
    progress: ProgressSink | None = None,
) -> str:
    """Build ``spec`` as ``name``, building a bundled base model first if it is needed."""
    resolver = Resolver(store, folder)
    base = resolver.resolve(spec.from_)
    if isinstance(base, BundledBase):
        if progress is not None:
            progress(ProgressEvent(f"building the bundled base {base.model.name}"))
        bundled_spec = modelfile.parse(
            base.model.modelfile_text(), f"<bundled {base.model.name}>"
        ).validate()
        build_spec(bundled_spec, ModelName.parse(base.model.name), store, folder, progress)
    return execute(plan(spec, name, resolver), store, progress)
