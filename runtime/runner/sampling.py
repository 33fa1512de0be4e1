"""Per-sequence sampler chains built from :class:`SamplingOptions`.

The order is llama.cpp's own (``common/sampling.cpp``): logit bias, penalties, top-k,
typical, top-p, min-p, temperature, then a seeded draw, or greedy when the temperature
is 0. Each sequence has its own chain, so its seed and penalty history are its own and a
batch neighbour cannot change what it draws.

A grammar is kept outside the chain and used as llama.cpp's common sampler does: the
chain draws a token, the grammar checks only that token, and only when it is refused is
the grammar applied to the whole vocabulary before drawing again. Checking every token of
a 49k vocabulary against the grammar at each step would make structured output about ten
times slower.

A reasoning model asked for a format thinks first (``grammar_after``): the grammar waits
until the reasoning's closing tag has been drawn (:class:`ThinkGate`), or applies from the
first token when the reply does not open its reasoning, as Ollama's server constrains the
answer once the thinking is over.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import llama_cpp as llama
import numpy as np

from ladle.errors import InvalidRequestError
from runtime.protocol import SamplingOptions

from .native import LlamaModel


@dataclass(frozen=True)
class SamplingDefaults:
    """What an option left unset means (Ollama's defaults, which are llama.cpp's)."""

    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.9
    min_p: float = 0.0
    typical_p: float = 1.0
    repeat_penalty: float = 1.1
    repeat_last_n: int = 64
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0


DEFAULTS = SamplingDefaults()
_MIN_KEEP = 1
_T = TypeVar("_T")


class Sampler:
    """A llama.cpp sampler chain for one sequence."""

    def __init__(
        self,
        model: LlamaModel,
        options: SamplingOptions,
        *,
        grammar: str | None = None,
        ignore_eos: bool = False,
        grammar_after: str | None = None,
        grammar_unless: str | None = None,
    ) -> None:
        params = llama.llama_sampler_chain_default_params()
        params.no_perf = True
        self.chain = llama.llama_sampler_chain_init(params)
        self._penalties: Any = None
        self._grammar: Any = None
        self._candidates: Candidates | None = None
        self._gate = (
            ThinkGate(grammar_after, grammar_unless)
            if grammar is not None and grammar_after
            else None
        )
        try:
            self._build(model, options, grammar, ignore_eos)
        except BaseException:
            self.close()
            raise

    def _add(self, sampler: Any) -> Any:
        llama.llama_sampler_chain_add(self.chain, sampler)
        return sampler

    def _build(
        self, model: LlamaModel, o: SamplingOptions, grammar: str | None, ignore_eos: bool
    ) -> None:
        if ignore_eos:
            eog = model.eog_tokens()
            biases = (llama.llama_logit_bias * len(eog))(
                *(llama.llama_logit_bias(token, float("-inf")) for token in eog)
            )
            self._add(llama.llama_sampler_init_logit_bias(model.n_vocab, len(eog), biases))
        if grammar is not None:
            self._grammar = llama.llama_sampler_init_grammar(model.vocab, grammar.encode(), b"root")
            if not self._grammar:
                raise InvalidRequestError("the grammar is not valid GBNF")
            self._candidates = Candidates(model.n_vocab)
        last_n = _pick(o.repeat_last_n, DEFAULTS.repeat_last_n)
        self._penalties = self._add(
            llama.llama_sampler_init_penalties(
                model.n_vocab,
                model.n_ctx if last_n < 0 else last_n,  # -1: the whole context (Ollama)
                _pick(o.repeat_penalty, DEFAULTS.repeat_penalty),
                _pick(o.frequency_penalty, DEFAULTS.frequency_penalty),
                _pick(o.presence_penalty, DEFAULTS.presence_penalty),
            )
        )
        temperature = _pick(o.temperature, DEFAULTS.temperature)
        if temperature <= 0:
            self._add(llama.llama_sampler_init_greedy())
            return
        top_k = _pick(o.top_k, DEFAULTS.top_k)
        if top_k > 0:
            self._add(llama.llama_sampler_init_top_k(top_k))
        self._add(
            llama.llama_sampler_init_typical(_pick(o.typical_p, DEFAULTS.typical_p), _MIN_KEEP)
        )
        self._add(llama.llama_sampler_init_top_p(_pick(o.top_p, DEFAULTS.top_p), _MIN_KEEP))
        self._add(llama.llama_sampler_init_min_p(_pick(o.min_p, DEFAULTS.min_p), _MIN_KEEP))
        self._add(llama.llama_sampler_init_temp(temperature))
        seed = llama.LLAMA_DEFAULT_SEED if o.seed is None or o.seed < 0 else o.seed & 0xFFFFFFFF
        self._add(llama.llama_sampler_init_dist(seed))

    def remember(self, tokens: Sequence[int]) -> None:
        """Feed prompt tokens to the repetition penalties (not to the grammar)."""
        for token in tokens:
            llama.llama_sampler_accept(self._penalties, token)

    def sample(self, model: LlamaModel, index: int) -> int:
        """Draw (and accept) a token from the logits at batch ``index``."""
        if self._grammar is None or self._candidates is None:
            return int(llama.llama_sampler_sample(self.chain, model.ctx, index))
        logits = llama.llama_get_logits_ith(model.ctx, index)
        token = self._candidates.draw(self.chain, logits)
        gate = self._gate
        if gate is not None and not gate.passed(model.piece(token, special=True)):
            llama.llama_sampler_accept(self.chain, token)  # still reasoning: free
            return token
        if not Candidates.admits(self._grammar, token):
            token = self._candidates.draw(self.chain, logits, first=self._grammar)
        llama.llama_sampler_accept(self._grammar, token)
        llama.llama_sampler_accept(self.chain, token)
        return token

    def close(self) -> None:
        if self.chain is not None:
            llama.llama_sampler_free(self.chain)  # frees the samplers added to it
            self.chain = None
        if self._grammar is not None:
            llama.llama_sampler_free(self._grammar)
            self._grammar = None


class ThinkGate:
    """Whether a reply is past its reasoning, from the pieces drawn so far."""

    def __init__(self, close: str, opening: str | None) -> None:
        self.close, self.opening = close, opening
        self.text = ""
        self.open = opening is None  # the prompt opened the reasoning
        self.done = False

    def passed(self, piece: bytes) -> bool:
        """Whether the grammar governs the token whose text is ``piece``: the reasoning
        closed before it, or the reply did not open one. A piece that closes the
        reasoning is itself free; the grammar takes the next."""
        if self.done:
            return True
        self.text += piece.decode("utf-8", errors="replace")
        if not self.open:
            start = self.text.lstrip()
            assert self.opening is not None
            if start and not (start.startswith(self.opening) or self.opening.startswith(start)):
                self.done = True  # an answer without reasoning: constrained from here
                return True
            self.open = start.startswith(self.opening)
        if self.open and self.close in self.text:
            self.done = True
        return False


_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])


class Candidates:
    """A reusable ``llama_token_data_array`` over the whole vocabulary, filled from logits
    with numpy (a Python loop over 49k tokens would cost more than the decode)."""

    def __init__(self, n_vocab: int) -> None:
        self.n_vocab = n_vocab
        self.data = np.zeros(n_vocab, dtype=_TOKEN_DATA)
        self._ids = np.arange(n_vocab, dtype=np.int32)

    def draw(self, chain: Any, logits: Any, *, first: Any = None) -> int:
        """Apply ``first`` (the grammar) if given, then ``chain``; the token chosen."""
        data = self.data
        data["id"] = self._ids
        data["logit"] = np.ctypeslib.as_array(logits, shape=(self.n_vocab,))
        data["p"] = 0.0
        array = llama.llama_token_data_array(
            data=data.ctypes.data_as(llama.llama_token_data_p),
            size=self.n_vocab,
            selected=-1,
            sorted=False,
        )
        if first is not None:
            llama.llama_sampler_apply(first, ctypes.byref(array))
        llama.llama_sampler_apply(chain, ctypes.byref(array))
        return int(array.data[array.selected].id)

    @staticmethod
    def admits(grammar: Any, token: int) -> bool:
        """Whether ``grammar`` allows ``token`` next (it sets a refused logit to -inf)."""
        one = (llama.llama_token_data * 1)(llama.llama_token_data(token, 1.0, 0.0))
        array = llama.llama_token_data_array(data=one, size=1, selected=-1, sorted=False)
        llama.llama_sampler_apply(grammar, ctypes.byref(array))
        return bool(np.isfinite(one[0].logit))


def _pick(value: _T | None, default: _T) -> _T:
    return default if value is None else value
