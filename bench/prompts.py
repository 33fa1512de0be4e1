"""The prompts every system gets, sized in tokens by the model's own tokenizer.

The tokenizer is llama-cpp-python's, on the same GGUF every system loads with
``vocab_only`` (no weights read), so "a 512-token prompt" means 512 tokens to all of them
(plus the BOS each adds). Each prompt starts with a request number, so that no system
can answer a measured request from a prefix cached by the one before; the multi-turn
chat is the one workload meant to reuse its prefix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

FILLER = (
    "The harbour town woke slowly. Fishermen mended their nets by the grey water, the "
    "baker pulled the first loaves from the oven, and children ran along the sea wall "
    "counting the gulls that circled above the boats before the bell of the old church "
    "called the hour. "
)
SYSTEM_PROMPT = "You are a helpful assistant who answers briefly and plainly. "
QUESTIONS = (
    "Name a fruit.",
    "And a vegetable?",
    "Which of the two is sweeter?",
    "Give me a recipe that uses both.",
    "How long does it take to cook?",
    "What wine goes with it?",
    "Can I make it without an oven?",
    "What could I serve as dessert?",
    "How many people does it feed?",
    "Summarise the whole meal in one line.",
)


class Tokenizer:
    """Counts and cuts text in the model's tokens (the GGUF's vocabulary only)."""

    def __init__(self, model: Path) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self._llm: Any = llama_cpp.Llama(str(model), vocab_only=True, verbose=False)

    def count(self, text: str) -> int:
        """Tokens ``text`` is evaluated as, BOS included (as every system sends it)."""
        return len(self._llm.tokenize(text.encode(), add_bos=True, special=True))

    def cut(self, text: str, n_tokens: int) -> str:
        """The longest start of ``text`` of at most ``n_tokens`` tokens (no BOS)."""
        tokens = self._llm.tokenize(text.encode(), add_bos=False, special=True)[:n_tokens]
        return bytes(self._llm.detokenize(tokens)).decode(errors="ignore")

    def eog_tokens(self) -> list[int]:
        """Every end-of-generation token id: what "ignore EOS" has to rule out."""
        vocab = self._llm._model.vocab
        n_vocab = self._lib.llama_vocab_n_tokens(vocab)
        return [t for t in range(n_vocab) if self._lib.llama_vocab_is_eog(vocab, t)]

    def close(self) -> None:
        self._llm.close()


def numbered(tokenizer: Tokenizer, number: int, n_tokens: int) -> str:
    """A prompt of about ``n_tokens`` tokens (BOS included) that starts with ``number``."""
    head = f"Request {number}. "
    body = FILLER * (n_tokens // 20 + 2)
    return tokenizer.cut(head + body, n_tokens - 1)


def chat(system: str, turns: list[str]) -> str:
    """A ChatML conversation (SmolLM2's template) ready for the assistant's next turn."""
    text = f"<|im_start|>system\n{system}<|im_end|>\n"
    for index, turn in enumerate(turns):
        role = ("user", "assistant")[index % 2]
        text += f"<|im_start|>{role}\n{turn}<|im_end|>\n"
    return text + "<|im_start|>assistant\n"
