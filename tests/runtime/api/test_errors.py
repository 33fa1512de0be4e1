"""The one table from error type to HTTP status, the one error body, and what a message
may not show."""

from __future__ import annotations

import pytest

from ladle.errors import (
    BuildError,
    BuildInputError,
    ContextOverflowError,
    InvalidFieldError,
    InvalidNameError,
    InvalidOptionError,
    InvalidRequestError,
    LadleError,
    ModelNotFoundError,
    QuantizeRefusedError,
    QueueFullError,
    RequestTooLargeError,
    RunnerCrashedError,
    RunnerError,
    SchedulerError,
)
from runtime.api.errors import (
    error_body,
    error_of,
    openai_param,
    param_of,
    public_message,
    status_of,
    without_paths,
)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidNameError("a/b/c/d", "too many '/'"), 400),
        (InvalidFieldError("images", "no vision"), 400),
        (InvalidRequestError("bad grammar"), 400),  # a RunnerError, but the caller's fault
        (QuantizeRefusedError("quantized already"), 400),  # a BuildError, the caller's choice
        (BuildInputError("ADAPTER x: a model, not a LoRA adapter"), 400),  # the inputs
        (BuildError("the quantizer crashed"), 500),
        (ContextOverflowError(300, 256), 400),
        (ModelNotFoundError("x:latest"), 404),
        (RequestTooLargeError("the prompt", 10, 5, "characters", "LADLE_MAX_PROMPT_CHARS"), 413),
        (QueueFullError(3, 2), 503),
        (SchedulerError("shutting down"), 503),
        (RunnerCrashedError("x", "signal SIGSEGV"), 500),
        (RunnerError("cannot load"), 500),
        (LadleError("anything else"), 500),
    ],
)
def test_the_status_is_chosen_by_type(error: LadleError, status: int) -> None:
    assert status_of(error) == status


def test_absolute_paths_become_their_last_part() -> None:
    text = "cannot load /home/me/.ladle/models/blobs/sha256-ab12: bad magic; see /tmp/x/"
    assert without_paths(text) == "cannot load sha256-ab12: bad magic; see x"
    kept = "invalid model name 'a/b/c/d'; see http://127.0.0.1:11434/api/tags, ~/.ladle"
    assert without_paths(kept) == kept


def test_a_runner_error_shows_its_reason_not_its_log() -> None:
    error = RunnerError("cannot load x", log="llama.cpp: /srv/models/x.gguf: bad")
    assert public_message(error) == "cannot load x"
    assert public_message(ValueError("/secret")) == "internal server error"


@pytest.mark.parametrize("path", ["/v1", "/v1/", "/v1/chat/completions", "/v1/nothing"])
def test_v1_paths_get_openai_s_error_object(path: str) -> None:
    assert error_body(path, "no", 404) == {
        "error": {"message": "no", "type": "invalid_request_error", "param": None, "code": None}
    }
    refused = error_body(path, "slow down", 429, code="rate_limit_exceeded", kind="requests")
    assert refused["error"]["type"] == "requests"
    assert refused["error"]["code"] == "rate_limit_exceeded"
    assert error_body(path, "broken", 500)["error"]["type"] == "api_error"


@pytest.mark.parametrize("path", ["/api/chat", "/", "/v1beta", "/v10/models", "/metrics"])
def test_other_paths_get_ollama_s(path: str) -> None:
    assert error_body(path, "no", 404, code="model_not_found", kind="x") == {"error": "no"}


def test_not_found_reads_as_ollama_s() -> None:
    # Ollama answers a missing model with 404 {"error": "model 'x' not found"}.
    assert public_message(ModelNotFoundError("x:latest")) == "model 'x:latest' not found"


@pytest.mark.parametrize(
    ("error", "param"),
    [
        (InvalidFieldError("n", "must be 1"), "n"),
        (InvalidFieldError("messages.0.tool_calls", "no function"), "messages[0].tool_calls"),
        (InvalidOptionError("temperature", -1, "too cold"), "temperature"),
        (InvalidOptionError("num_predict", -5, "too few"), "max_tokens"),  # its /v1 field
        (ModelNotFoundError("x:latest"), None),
        (ValueError("not ours"), None),
    ],
)
def test_the_field_at_fault_is_openai_s_param(error: Exception, param: str | None) -> None:
    assert param_of(error) == param
    body, status = error_of("/v1/chat/completions", error)
    assert body["error"]["param"] == param
    assert error_of("/api/chat", error) == ({"error": body["error"]["message"]}, status)


def test_a_location_reads_as_openai_writes_a_path() -> None:
    assert openai_param(["messages", 0, "content"]) == "messages[0].content"
    assert openai_param(["tools", "3", "function", "name"]) == "tools[3].function.name"
    assert openai_param([]) is None
    assert error_body("/v1/embeddings", "bad", 400, param="input")["error"]["param"] == "input"
