"""Control tokens a reply parser reads (``GenerateRequest.preserve``, Ollama's
PreservedTokens): gpt-oss's ``<|channel|>`` or Magistral's ``[THINK]`` are control tokens
of their vocabularies, which llama.cpp renders as nothing; the ones a request names show
as their text, the others stay hidden. Here with the tiny model's FIM control tokens."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from pathlib import Path

import llama_cpp as llama
import pytest

from runtime.protocol import GenerateRequest, LoadSpec, SamplingOptions
from runtime.runner.engine import Engine
from runtime.runner.native import LlamaLog, LlamaModel
from tests.fixtures.tiny_gguf import FIM_TOKENS, write_tiny_llama

_SILENT_LOG = llama.llama_log_callback(lambda _level, _text, _data: None)


@pytest.fixture
def model(tmp_path: Path) -> Iterator[LlamaModel]:
    path = write_tiny_llama(tmp_path / "fim.gguf", fim="ids")
    log = LlamaLog()  # llama.cpp calls it until the process ends: keep it alive
    loaded = LlamaModel(LoadSpec(model_path=path, n_ctx=64, n_threads=1), log)
    yield loaded
    loaded.close()
    llama.llama_log_set(_SILENT_LOG, ctypes.c_void_p(0))


def test_a_control_token_shows_only_when_asked(model: LlamaModel) -> None:
    (prefix,) = model.tokenize(FIM_TOKENS[0], add_special=False, parse_special=True)
    assert model.piece(prefix) == b""
    assert model.piece(prefix, special=True) == FIM_TOKENS[0].encode()


def test_a_job_shows_the_control_tokens_its_request_names(model: LlamaModel) -> None:
    engine = Engine(model)
    try:
        ids = {
            text: model.tokenize(text, add_special=False, parse_special=True)[0]
            for text in FIM_TOKENS
        }
        request = GenerateRequest(
            prompt="hello",
            sampling=SamplingOptions(temperature=0),
            num_predict=1,
            preserve=(FIM_TOKENS[1], "<think>"),  # "<think>" is text here, several tokens
        )
        engine.submit(1, request)
        (job,) = engine.waiting
        assert job.shown == frozenset({ids[FIM_TOKENS[1]]})
        engine.submit(2, request.model_copy(update={"preserve": ()}))
        assert engine.waiting[-1].shown == frozenset()
    finally:
        engine.close()
