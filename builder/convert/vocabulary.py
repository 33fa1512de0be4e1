"""A checkpoint's tokenizer as GGUF's ``tokenizer.ggml.*`` keys.

Byte-level BPE tokenizers (``tokenizer.json`` with a ``BPE`` model, no byte fallback: the
Llama 3, SmolLM, Qwen 2 and 3, Mistral Nemo families) become llama.cpp's ``gpt2``
tokenizer: every id's token and type, the merges, and the *pre-tokenizer* name.

llama.cpp implements each BPE pre-tokenizer (the regular expressions that split text
before merging) by name, so the name must be right or the model reads text wrong. As
llama.cpp's converter does, the name is found by tokenizing a fixed text with the
checkpoint's own tokenizer and looking the hash of the ids up in a table
(``pretokenizers.json``): an unknown hash is refused rather than guessed.

Special tokens (bos, eos, unk, pad, whether to add bos), merges and the chat template
(``tokenizer_config.json``'s, else ``chat_template.jinja``) are read by gguf-py's
``SpecialVocab``, which follows the same files and rules as llama.cpp's converter.

SentencePiece tokenizers (``tokenizer.model``, or a ``tokenizer.json`` with byte
fallback: Llama 2, Mistral 7B, Gemma, Phi-3) are refused for now, naming the file.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from builder.convert.checkpoint import Checkpoint, read_json
from ladle.errors import BuildInputError

CHECK_TEXT = (
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis "
    "concatenated) ✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 "
    "កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天\uff5e ------======= нещо на Български "
    "''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? "
    "'M not sure I'll make it, 'D you like some tea? We'Ve a'lL"
)
"""The text whose token ids identify a pre-tokenizer (llama.cpp's ``chktxt``)."""

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
"""llama.cpp's token types (``llama_token_type``)."""

TABLE = "pretokenizers.json"


@dataclass(frozen=True)
class Vocabulary:
    """What the GGUF's tokenizer keys hold (special tokens and merges: ``SpecialVocab``)."""

    model: str
    pre: str
    tokens: list[str]
    types: list[int]


def read_vocabulary(checkpoint: Checkpoint, vocab_size: int) -> Vocabulary:
    """The vocabulary of ``checkpoint``, ``vocab_size`` ids long (the embedding's rows)."""
    path = checkpoint.named("tokenizer.json")
    if not path.is_file():
        spm = checkpoint.named("tokenizer.model")
        if spm.is_file():
            raise BuildInputError(f"{spm}: SentencePiece tokenizers are not supported yet")
        raise BuildInputError(f"{path} is missing: the model's tokenizer is needed")
    tokenizer = read_json(path, what="the model's tokenizer")
    model = tokenizer.get("model") or {}
    if model.get("type") != "BPE" or model.get("byte_fallback"):
        raise BuildInputError(
            f"{path}: a {model.get('type')} tokenizer"
            f"{' with byte fallback (SentencePiece-style)' if model.get('byte_fallback') else ''}; "
            "ladle converts byte-level BPE tokenizers only, for now"
        )
    tokens, types = _tokens(tokenizer, vocab_size, path)
    return Vocabulary("gpt2", pre_tokenizer(path), tokens, types)


def pre_tokenizer(path: Path) -> str:
    """llama.cpp's name for the pre-tokenizer of the ``tokenizer.json`` at ``path``."""
    from tokenizers import Tokenizer  # loads only when converting

    try:
        ids = Tokenizer.from_file(str(path)).encode(CHECK_TEXT).ids
    except Exception as exc:  # the tokenizers library raises plain Exceptions
        raise BuildInputError(f"{path}: the tokenizers library cannot load it: {exc}") from None
    digest = hashlib.sha256(str(ids).encode()).hexdigest()
    known = _known_hashes().get(digest)
    if known is None:
        raise BuildInputError(
            f"{path}: its pre-tokenizer is not one llama.cpp knows (hash {digest}); "
            "a GGUF with a guessed one would read text wrong"
        )
    return known


@functools.cache
def _known_hashes() -> dict[str, str]:
    text = resources.files(__package__).joinpath(TABLE).read_text(encoding="utf-8")
    return {digest: entry[0] for digest, entry in json.loads(text)["hashes"].items()}


def _tokens(tokenizer: dict[str, Any], vocab_size: int, path: Path) -> tuple[list[str], list[int]]:
    """Each id's token and type: added tokens are control tokens when special (or shaped
    like one), user-defined otherwise; ids with no token are padding, as llama.cpp does."""
    by_id: dict[int, tuple[str, int]] = {
        token_id: (token, NORMAL) for token, token_id in tokenizer["model"]["vocab"].items()
    }
    for added in tokenizer.get("added_tokens") or []:
        content, token_id = added.get("content"), added.get("id")
        if not isinstance(content, str) or not isinstance(token_id, int):
            raise BuildInputError(f"{path}: an added token without content or id: {added!r}")
        special = added.get("special") or looks_special(content)
        by_id[token_id] = (content, CONTROL if special else USER_DEFINED)
    if max(by_id, default=0) >= vocab_size:
        raise BuildInputError(
            f"{path}: token id {max(by_id)} is past the model's vocab_size ({vocab_size})"
        )
    entries = [by_id.get(i, (f"[PAD{i}]", UNUSED)) for i in range(vocab_size)]
    return [token for token, _ in entries], [kind for _, kind in entries]


def looks_special(token: str) -> bool:
    """Added tokens some models forget to mark special (``<|im_end|>``, ``<pad>``)."""
    return (token.startswith("<|") and token.endswith("|>")) or token in ("<pad>", "<mask>")
