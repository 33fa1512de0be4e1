"""A request's generation settings: the image's PARAMETER lines under its ``options``.

The values come from, last one winning: the runner's defaults, the image's parameters,
the request's ``options`` (a ``null`` option means "not set"). They are range-checked
with the Modelfile's own parameter table (:class:`modelfile.parameters.Parameters`), so
a request cannot ask for what a Modelfile could not say. Load-time options (``num_ctx``,
``num_gpu``…) are :mod:`runtime.loading`'s (it raises a ``num_ctx`` below 4 to 4, as
Ollama does).

Before any of that, :func:`check_request_options` reads a request's ``options`` as the
request arrives (the body schemas call it), for what the table cannot say:

- an option nobody knows (``temprature``), or one Ollama dropped (``mirostat``, ``numa``,
  :data:`modelfile.parameters.DEPRECATED`), is refused by name: Ollama logs and drops
  them, which leaves a typo silently without effect;
- an integer option has a ceiling (:data:`UPPER_BOUNDS`, and :func:`machine_threads`
  for ``num_thread``): llama.cpp takes these as C ``int`` values (a larger Python int
  wraps around in ctypes) and sizes buffers by some of them, so ``num_batch`` 10^12
  crashed the runner with SIGSEGV and ``num_thread`` 10^6 with SIGABRT.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ladle.errors import InvalidOptionError
from modelfile.parameters import (
    DEPRECATED,
    GGML_MAX_THREADS,
    INT32_MAX,
    MAX_NUM_BATCH,
    MAX_NUM_CTX,
    Parameters,
    kind_of,
)
from runtime.loading import LOAD_OPTIONS
from runtime.protocol import GenerateRequest, SamplingOptions

_SAMPLING = tuple(SamplingOptions.model_fields)
_SPECULATION = ("spec_ngram", "draft_num_predict")
_GENERATION = frozenset(Parameters.model_fields) - frozenset(LOAD_OPTIONS)
"""The parameters checked here: every one but the load-time ones."""
DEFAULT_NUM_KEEP = 4
"""Ollama's ``num_keep`` when neither image nor request sets it."""
IGNORE_EOS = "ignore_eos"
"""A request option Ollama lacks (llama.cpp server's name): generate past end-of-generation
tokens until ``num_predict``, so benchmarks compare equal output lengths. Request-only: a
Modelfile cannot set it, and it is not in the parameter table."""


UPPER_BOUNDS: dict[str, tuple[int, str]] = {
    "num_ctx": (MAX_NUM_CTX, "tokens, more than any model's context"),
    "num_batch": (MAX_NUM_BATCH, "tokens per batch"),
    "num_gpu": (INT32_MAX, "layers (any number past the model's layers offloads all)"),
    "main_gpu": (INT32_MAX, "(a GPU's index)"),
    "top_k": (INT32_MAX, "tokens (0 takes them all)"),
    "repeat_last_n": (MAX_NUM_CTX, "tokens, more than any context (-1: the whole one)"),
}
"""The highest value of an integer option, and what it counts, for the request's error
message (the parameter table holds the same ceilings, so a Modelfile's PARAMETER and an
image's parameters are held to them too; ``num_thread``'s, for a request, is the
machine's: :func:`machine_threads`)."""
KNOWN_OPTIONS = frozenset(Parameters.model_fields) | {IGNORE_EOS}
"""Every option a request may send."""


def machine_threads() -> int:
    """The most ``num_thread`` this machine runs: the CPUs this server may use (its
    affinity mask), within llama.cpp's own limit."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cpus or 1, GGML_MAX_THREADS))


def check_request_options(options: Mapping[str, Any] | None) -> None:
    """Refuse a request's option that ladle does not know, or an integer option past its
    ceiling, naming it (:class:`InvalidOptionError`, a 400). A ``null`` option is "not
    set" and passes; types and lower bounds are the parameter table's, checked later."""
    chosen = {name: value for name, value in (options or {}).items() if value is not None}
    for name, value in chosen.items():
        if name in DEPRECATED:
            raise InvalidOptionError(name, value, "Ollama dropped this option; ladle has none")
        if name not in KNOWN_OPTIONS:
            raise InvalidOptionError(name, value, "no such option")
    check_ceilings(chosen)


def check_ceilings(values: Mapping[str, Any], *, this_machine: bool = True) -> None:
    """Refuse an integer option of ``values`` past its ceiling (:data:`UPPER_BOUNDS`).
    ``num_thread``'s is :func:`machine_threads` for a request; for an image's parameter
    (``this_machine`` false: the image may run elsewhere) llama.cpp's own limit."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue  # not a number: the parameter table names the type it takes
        limit, unit = _ceiling(name, this_machine)
        if value > limit:
            raise InvalidOptionError(name, value, f"at most {limit:,} {unit}")


def _ceiling(name: str, this_machine: bool) -> tuple[float, str]:
    if name == "num_thread" and this_machine:
        return machine_threads(), "threads: the CPUs this server may use"
    if name == "num_thread":
        return GGML_MAX_THREADS, "threads, llama.cpp's limit"
    return UPPER_BOUNDS.get(name, (math.inf, ""))


@dataclass(frozen=True)
class Generation:
    """How to continue a prompt, whatever the prompt is."""

    sampling: SamplingOptions
    stop: tuple[str, ...] = ()
    num_predict: int = -1
    num_keep: int = DEFAULT_NUM_KEEP
    ignore_eos: bool = False
    speculation: Mapping[str, int] = field(default_factory=dict)
    """``spec_ngram`` and ``draft_num_predict`` when set (runtime.runner.speculation)."""

    def request(self, prompt: str, grammar: str | None = None) -> GenerateRequest:
        """The runner request for ``prompt``; a prompt longer than the context loses its
        oldest tokens past ``num_keep`` (as Ollama's runner truncates) instead of failing."""
        return GenerateRequest(
            prompt=prompt,
            sampling=self.sampling,
            stop=self.stop,
            num_predict=self.num_predict,
            num_keep=self.num_keep,
            grammar=grammar,
            ignore_eos=self.ignore_eos,
            truncate=True,
            **self.speculation,
        )


def generation(params: Mapping[str, Any], options: Mapping[str, Any] | None) -> Generation:
    """The settings for a request with ``options`` on an image with ``params``."""
    chosen = _known(params) | _known(options or {}, request=True)
    try:
        values = Parameters.model_validate(chosen).set_values()
    except ValidationError as exc:
        problem = exc.errors()[0]
        option = str(problem["loc"][0]) if problem["loc"] else "options"
        raise InvalidOptionError(option, chosen.get(option), problem["msg"]) from None
    sampling = SamplingOptions(**{key: values[key] for key in _SAMPLING if key in values})
    ignore_eos = (options or {}).get(IGNORE_EOS)
    if ignore_eos is not None and not isinstance(ignore_eos, bool):
        raise InvalidOptionError(IGNORE_EOS, ignore_eos, "expected true or false")
    return Generation(
        sampling=sampling,
        stop=tuple(values.get("stop") or ()),
        num_predict=values.get("num_predict", -1),
        num_keep=values.get("num_keep", DEFAULT_NUM_KEEP),
        ignore_eos=bool(ignore_eos),
        speculation={key: values[key] for key in _SPECULATION if key in values},
    )


def _known(values: Mapping[str, Any], *, request: bool = False) -> dict[str, Any]:
    chosen = {key: value for key, value in values.items() if key in _GENERATION}
    if request:
        chosen = {key: value for key, value in chosen.items() if value is not None}
        if isinstance(chosen.get("stop"), str):  # a lone stop string, as some clients send
            chosen["stop"] = [chosen["stop"]]
    for key, value in chosen.items():
        # pydantic's lax mode reads True as 1; an option that is a number is never a bool.
        if isinstance(value, bool) and kind_of(key) != "bool":
            raise InvalidOptionError(key, value, "expected a number")
    return chosen
