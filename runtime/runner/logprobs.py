"""Log-probabilities of generated tokens, as Ollama's ``logprobs`` and OpenAI's report them.

They are the model's own distribution at each step: the log-softmax of the raw logits
llama.cpp produced for that position, the same logits the sampler then draws from, taken
*before* any sampling transform (logit bias, repetition penalties, top-k/top-p/min-p,
temperature, grammar). So a request's temperature or ``top_k`` does not change the
numbers reported, only which token is drawn; this is what OpenAI and Ollama report.
"""

from __future__ import annotations

import llama_cpp as llama
import numpy as np
import numpy.typing as npt

from runtime.protocol import TokenLogprob, TokenProbability

from .native import LlamaModel

Distribution = npt.NDArray[np.float64]


def distribution(model: LlamaModel, index: int) -> Distribution:
    """The log-softmax of the raw logits at batch ``index`` (read before sampling)."""
    pointer = llama.llama_get_logits_ith(model.ctx, index)
    logits = np.ctypeslib.as_array(pointer, shape=(model.n_vocab,)).astype(np.float64)
    shifted = logits - logits.max()
    result: Distribution = shifted - np.log(np.exp(shifted).sum())
    return result


def token_logprob(model: LlamaModel, logprobs: Distribution, token: int, top: int) -> TokenLogprob:
    """``token``'s entry, with the ``top`` likeliest tokens (most likely first, ties by id)."""
    alternatives: tuple[TokenProbability, ...] = ()
    if top > 0:
        n = min(top, len(logprobs))
        candidates = np.argpartition(-logprobs, n - 1)[:n]
        order = np.lexsort((candidates, -logprobs[candidates]))
        alternatives = tuple(
            _probability(model, int(i), float(logprobs[i])) for i in candidates[order]
        )
    own = _probability(model, token, float(logprobs[token]))
    return TokenLogprob(**own.model_dump(), top=alternatives)


def _probability(model: LlamaModel, token: int, logprob: float) -> TokenProbability:
    piece = model.piece(token)
    return TokenProbability(
        id=token,
        token=piece.decode("utf-8", "replace"),
        bytes=tuple(piece),
        logprob=logprob,
    )
