"""What crosses between the ingress and the model pool: which model to load, and errors.

A model-pool replica multiplexes models by :attr:`PoolLoad.model_id`: the image's
manifest digest (a name retagged to other bytes is another model) and a hash of the
load options (a model asked for with another context is another runner). Paths in the
:class:`~runtime.protocol.LoadSpec` are the ingress node's; a replica finds the same
blobs, by digest, in its own node's store (:mod:`runtime.cluster.images`).

Ladle's errors take their own constructor arguments, which pickle cannot replay, so
they cross as :class:`WireError` (type, args, attributes) and are rebuilt as the same
type on the other side: the HTTP status still follows the error's type.
"""

from __future__ import annotations

import hashlib
import importlib
from typing import Any

from pydantic import BaseModel, ConfigDict

from ladle.errors import LadleError, RunnerError
from runtime.protocol import LoadSpec

ERROR_PACKAGES = ("ladle", "builder", "runtime", "modelfile")
"""Where a rebuilt error's type may come from: ladle's own packages, nothing else."""
BLOB_PREFIX = "sha256-"
"""How a blob's file is named in a store (:meth:`builder.store.store.Store.blob_path`)."""
ID_SEPARATOR = "+"
"""Between the manifest digest and the options' hash in a multiplexed model id."""


class PoolLoad(BaseModel):
    """One model as the pool loads it: its name (for errors and pulls), its manifest
    digest, and how to load it."""

    model_config = ConfigDict(frozen=True)

    name: str
    """The full name (``host/namespace/model:tag``): where a node pulls it from."""
    digest: str
    spec: LoadSpec

    @property
    def model_id(self) -> str:
        """The multiplexed model id: ``sha256:…+<options hash>``."""
        options = hashlib.sha256(self.spec.model_dump_json().encode()).hexdigest()[:16]
        return f"{self.digest}{ID_SEPARATOR}{options}"


class WireError(BaseModel):
    """A ladle error as it crosses a process boundary."""

    model_config = ConfigDict(frozen=True)

    module: str
    qualname: str
    args: tuple[Any, ...]
    attributes: dict[str, Any]

    @classmethod
    def of(cls, error: LadleError) -> WireError:
        kind = type(error)
        return cls(
            module=kind.__module__,
            qualname=kind.__qualname__,
            args=error.args,
            attributes=dict(vars(error)),
        )

    def rebuild(self) -> LadleError:
        """The same error, of the same type; a type that cannot be found is a RunnerError
        with the same words."""
        if self.module.split(".")[0] not in ERROR_PACKAGES:
            return RunnerError(str(self.args[0]) if self.args else self.qualname)
        kind = getattr(importlib.import_module(self.module), self.qualname, None)
        if not (isinstance(kind, type) and issubclass(kind, LadleError)):
            return RunnerError(str(self.args[0]) if self.args else self.qualname)
        error = kind.__new__(kind)
        error.args = self.args
        vars(error).update(self.attributes)
        return error
