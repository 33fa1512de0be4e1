"""A request's generation settings: the image's PARAMETER lines under its ``options``.

The values come from, last one winning: the runner's defaults, the image's parameters,
the request's ``options`` (a ``null`` option means "not set"). They are range-checked
with the Modelfile's own parameter table (:class:`modelfile.parameters.Parameters`), so
a request cannot ask for what a Modelfile could not say. Load-time options (``num_ctx``,
``num_gpu``…) are :mod:`runtime.loading`'s, checked there alone (it raises a ``num_ctx``
below 4 to 4, as Ollama does); options Ollama knows but ladle does not use
(``mirostat``, ``numa``…) are ignored, as Ollama ignores them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ladle.errors import InvalidOptionError
from modelfile.parameters import Parameters, kind_of
from runtime.loading import LOAD_OPTIONS
from runtime.protocol import GenerateRequest, SamplingOptions

_SAMPLING = tuple(SamplingOptions.model_fields)
_GENERATION = frozenset(Parameters.model_fields) - frozenset(LOAD_OPTIONS)
"""The parameters checked here: every one but the load-time ones."""
DEFAULT_NUM_KEEP = 4
"""Ollama's ``num_keep`` when neither image nor request sets it."""
IGNORE_EOS = "ignore_eos"
"""A request option Ollama lacks (llama.cpp server's name): generate past end-of-generation
tokens until ``num_predict``, so benchmarks compare equal output lengths. Request-only: a
Modelfile cannot set it, and it is not in the parameter table."""


@dataclass(frozen=True)
class Generation:
    """How to continue a prompt, whatever the prompt is."""

    sampling: SamplingOptions
    stop: tuple[str, ...] = ()
    num_predict: int = -1
    num_keep: int = DEFAULT_NUM_KEEP
    ignore_eos: bool = False

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
