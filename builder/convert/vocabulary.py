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

SentencePiece tokenizers (Llama 2, Mistral 7B, Gemma, Phi-3: a ``tokenizer.model``,
whose ``tokenizer.json``, when there is one, is a BPE with byte fallback) become
llama.cpp's ``llama`` tokenizer, as its converter writes them: each piece's text, score
and type from ``tokenizer.model`` (:mod:`.sentencepiece`), ids past the last piece as
unused ``[PADn]``, then the added tokens of ``added_tokens.json``,
``tokenizer_config.json`` and ``tokenizer.json`` over them (control tokens when special).
A byte-level ``tokenizer.json`` is preferred to a ``tokenizer.model`` beside it.
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
from builder.convert.sentencepiece import read_sentencepiece
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
    scores: list[float] | None = None
    add_space_prefix: bool | None = None


def read_vocabulary(checkpoint: Checkpoint, vocab_size: int) -> Vocabulary:
    """The vocabulary of ``checkpoint``, ``vocab_size`` ids long (the embedding's rows)."""
    path, spm = checkpoint.named("tokenizer.json"), checkpoint.named("tokenizer.model")
    if path.is_file():
        tokenizer = read_json(path, what="the model's tokenizer")
        model = tokenizer.get("model") or {}
        if model.get("type") == "BPE" and not model.get("byte_fallback"):
            tokens, types = _tokens(tokenizer, vocab_size, path)
            return Vocabulary("gpt2", pre_tokenizer(path), tokens, types)
        if not spm.is_file():
            fallback = " with byte fallback" if model.get("byte_fallback") else ""
            raise BuildInputError(
                f"{path}: a {model.get('type')} tokenizer{fallback}; ladle converts a "
                "byte-level BPE tokenizer.json, or a SentencePiece tokenizer.model (missing)"
            )
    elif not spm.is_file():
        raise BuildInputError(f"{path} is missing: the model's tokenizer is needed")
    return sentencepiece_vocabulary(checkpoint, spm, vocab_size)


def sentencepiece_vocabulary(checkpoint: Checkpoint, path: Path, vocab_size: int) -> Vocabulary:
    """The ``llama`` vocabulary of the SentencePiece model at ``path``, padded to
    ``vocab_size`` ids, with the checkpoint's added tokens over it."""
    model = read_sentencepiece(path)
    if len(model.pieces) > vocab_size:
        raise BuildInputError(
            f"{path}: {len(model.pieces)} pieces, more than the model's vocab_size ({vocab_size})"
        )
    tokens = [f"[PAD{i}]" for i in range(vocab_size)]
    scores, types = [-10000.0] * vocab_size, [UNUSED] * vocab_size
    for i, piece in enumerate(model.pieces):
        tokens[i], scores[i] = piece.text, piece.score
        # as llama.cpp's converter: SentencePiece's user-defined pieces are normal ones
        types[i] = piece.kind if piece.kind in (UNKNOWN, CONTROL, UNUSED, BYTE) else NORMAL
    for token_id, content, kind in _added_tokens(checkpoint, vocab_size):
        tokens[token_id], scores[token_id], types[token_id] = content, -1000.0, kind
    return Vocabulary("llama", "default", tokens, types, scores, model.add_dummy_prefix)


def _added_tokens(checkpoint: Checkpoint, vocab_size: int) -> list[tuple[int, str, int]]:
    """(id, text, type) of every added token, in the order llama.cpp applies them."""
    added: list[tuple[int, str, int, Path]] = []
    path = checkpoint.named("added_tokens.json")
    if path.is_file():
        for content, token_id in read_json(path, what="added tokens").items():
            added.append((token_id, content, USER_DEFINED, path))
    path = checkpoint.named("tokenizer_config.json")
    if path.is_file():
        decoder = read_json(path, what="the tokenizer's settings").get("added_tokens_decoder")
        for key, token in (decoder or {}).items():
            token_id = int(key) if isinstance(key, str) and key.isdigit() else key
            added.append(_added(token_id, token, path))
    path = checkpoint.named("tokenizer.json")
    if path.is_file():
        for token in read_json(path, what="the model's tokenizer").get("added_tokens") or []:
            added.append(_added(token.get("id") if isinstance(token, dict) else None, token, path))
    for token_id, content, _, where in added:
        if not isinstance(token_id, int) or not 0 <= token_id < vocab_size:
            raise BuildInputError(
                f"{where}: added token {content!r} has id {token_id!r}, "
                f"not one of the model's {vocab_size}"
            )
    return [(token_id, content, kind) for token_id, content, kind, _ in added]


def _added(token_id: Any, token: Any, path: Path) -> tuple[int, str, int, Path]:
    content = token.get("content") if isinstance(token, dict) else None
    if not isinstance(content, str):
        raise BuildInputError(f"{path}: an added token without content: {token!r}")
    if token.get("special") or looks_special(content):
        return token_id, content, CONTROL, path
    return token_id, content.replace("\u2581", " "), USER_DEFINED, path  # spaces pre-normalized


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
