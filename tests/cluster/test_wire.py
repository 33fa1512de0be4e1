"""What crosses between the ingress and the pool: model ids and errors (no Ray needed)."""

from __future__ import annotations

import pickle
from pathlib import Path

from ladle.errors import ContextOverflowError, LadleError, ModelNotFoundError, RunnerError
from runtime.cluster.wire import PoolLoad, WireError
from runtime.protocol import LoadSpec

DIGEST = "sha256:" + "ab" * 32


def load(**spec: object) -> PoolLoad:
    return PoolLoad(
        name="registry.ollama.ai/library/tiny:latest",
        digest=DIGEST,
        spec=LoadSpec(model_path=Path("/store/blobs/sha256-" + "cd" * 32), **spec),
    )


def test_the_model_id_is_the_digest_and_the_load_options() -> None:
    plain = load()
    assert plain.model_id.startswith(DIGEST + "+")
    assert plain.model_id == load().model_id
    assert plain.model_id != load(n_ctx=8192).model_id  # another runner
    other = plain.model_copy(update={"digest": "sha256:" + "ef" * 32})
    assert other.model_id.split("+")[0] != plain.model_id.split("+")[0]  # retagged bytes


def test_errors_cross_as_their_own_type_with_their_fields() -> None:
    for error in (
        ContextOverflowError(5000, 4096, model="tiny"),
        ModelNotFoundError("tiny"),
        RunnerError("it broke", model="tiny", log="llama.cpp said so"),
    ):
        crossed = pickle.loads(pickle.dumps(WireError.of(error))).rebuild()
        assert type(crossed) is type(error)
        assert str(crossed) == str(error)
        assert vars(crossed) == vars(error)


def test_an_error_type_from_elsewhere_is_not_imported() -> None:
    wire = WireError(module="os", qualname="system", args=("rm -rf /",), attributes={})
    rebuilt = wire.rebuild()
    assert type(rebuilt) is RunnerError and str(rebuilt) == "rm -rf /"
    unknown = WireError(module="ladle.errors", qualname="NoSuchError", args=(), attributes={})
    assert isinstance(unknown.rebuild(), LadleError)
