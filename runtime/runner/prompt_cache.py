"""Prompt caches that survive a restart: slots' KV caches saved on disk when a runner
closes, read back by a later runner whose prompt starts with what one holds.

The folder (``LADLE_CACHE_DIR``, by default ``.ladle/prompt-cache`` in the store) has one
subfolder per model digest, one per key of load-time options inside it
(:func:`~.prompt_cache_file.options_key`), and in it one file per saved sequence, named
by a digest of its tokens (:mod:`.prompt_cache_file` has the format). A runner reads the
headers of its own subfolder when it starts; a file whose header is damaged, or written
by another llama.cpp build, is discarded then, one whose checksum fails when it is read
back. Either way a warning says so, and the request is served by evaluating its prompt.

Files are written atomically (:func:`ladle.atomic.write_atomically`): a failed write (a
full disk) leaves nothing behind and the runner closes as it would have. After a save
the oldest files (by last use: a restore touches its file) go until the whole folder
fits in ``LADLE_CACHE_MAX``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ladle.atomic import write_atomically
from runtime.protocol import PromptCacheSpec

from .native import LLAMA_CPP_BUILD, LlamaModel
from .prefix import Holder, common_prefix
from .prompt_cache_file import (
    SUFFIX,
    CacheFileError,
    CacheHeader,
    check_belongs,
    decode,
    encode,
    options_key,
    read_header,
    tokens_name,
)

_log = logging.getLogger(__name__)

MIN_SAVED_TOKENS = 32
"""A shorter cache is not worth a file: evaluating it again takes no time."""
TEMP_GRACE_S = 10 * 60
"""A temp file older than this was left by a runner killed while saving."""


@dataclass(frozen=True)
class Entry:
    """One saved cache: its file and the tokens it holds."""

    path: Path
    tokens: tuple[int, ...]


class PromptCache:
    """The saved caches of one model under one set of load options."""

    def __init__(self, spec: PromptCacheSpec, model: LlamaModel) -> None:
        self.root, self.max_bytes = spec.folder, spec.max_bytes
        key = options_key(model.spec)
        self.folder = spec.folder / spec.model_digest / key
        self.expected = CacheHeader(
            build=LLAMA_CPP_BUILD, model_digest=spec.model_digest, key=key, tokens=()
        )
        self.entries = self._index()

    def _index(self) -> list[Entry]:
        entries = []
        for path in sorted(self.folder.glob(f"*{SUFFIX}")):
            try:
                header = read_header(path)
                check_belongs(header, self.expected)
            except (CacheFileError, OSError) as problem:
                self._discard(path, str(problem))
                continue
            entries.append(Entry(path, header.tokens))
        return entries

    # Reading back

    def longest(self, prompt: Sequence[int]) -> tuple[int, Entry] | None:
        """The saved cache sharing the longest prefix with ``prompt``, and how long."""
        best = max(
            self.entries, key=lambda entry: common_prefix(entry.tokens, prompt), default=None
        )
        return None if best is None else (common_prefix(best.tokens, prompt), best)

    def restore(self, entry: object, model: LlamaModel, seq_id: int) -> list[int] | None:
        """Read ``entry`` into ``seq_id``: its tokens, or None after discarding a bad file
        (``seq_id``'s cache may then be anything)."""
        assert isinstance(entry, Entry)
        try:
            state = decode(entry.path.read_bytes(), self.expected)
        except (CacheFileError, OSError) as problem:
            self._discard(entry.path, str(problem), entry)
            return None
        if not model.restore_sequence(seq_id, state):
            self._discard(entry.path, "llama.cpp refused its state", entry)
            return None
        os.utime(entry.path)  # recently used: the last to be evicted
        return list(entry.tokens)

    def _discard(self, path: Path, reason: str, entry: Entry | None = None) -> None:
        _log.warning("discarding the prompt cache %s: %s", path, reason)
        path.unlink(missing_ok=True)
        if entry is not None and entry in self.entries:
            self.entries.remove(entry)

    # Saving

    def save(self, model: LlamaModel, slots: Sequence[Holder]) -> int:
        """Save every slot's cache worth keeping that no saved one covers; how many."""
        saved = 0
        for slot in slots:
            if len(slot.tokens) >= MIN_SAVED_TOKENS and not self._covered(slot.tokens):
                saved += self._save_one(model, slot)
        if saved:
            self._evict()
        return saved

    def _covered(self, tokens: Sequence[int]) -> bool:
        """Whether a saved cache holds ``tokens`` and maybe more."""
        n = len(tokens)
        return any(
            len(e.tokens) >= n and common_prefix(e.tokens, tokens) == n for e in self.entries
        )

    def _save_one(self, model: LlamaModel, slot: Holder) -> int:
        tokens = tuple(slot.tokens)
        header = self.expected.model_copy(update={"tokens": tokens})
        path = self.folder / tokens_name(tokens)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomically(path, encode(header, model.sequence_state(slot.seq_id)))
        except OSError as problem:  # a full disk: nothing was left behind, go on
            _log.warning("could not save a prompt cache in %s: %s", self.folder, problem)
            return 0
        for older in [e for e in self.entries if _extends(tokens, e.tokens)]:
            self._forget_superseded(older)
        self.entries.append(Entry(path, tokens))
        return 1

    def _forget_superseded(self, entry: Entry) -> None:
        """An earlier turn of a chat whose later turn was just saved."""
        entry.path.unlink(missing_ok=True)
        self.entries.remove(entry)

    def _evict(self) -> None:
        """Delete the least recently used files of every model until the folder fits."""
        files, now = [], time.time()
        for path in self.root.rglob("*"):
            try:
                info = path.stat()
            except OSError:
                continue
            if path.name.startswith(".") and now - info.st_mtime > TEMP_GRACE_S:
                path.unlink(missing_ok=True)  # left by a runner killed while saving
            elif path.suffix == SUFFIX:
                files.append((info.st_mtime, info.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
        self.entries = [entry for entry in self.entries if entry.path.exists()]


def _extends(tokens: Sequence[int], older: Sequence[int]) -> bool:
    """Whether ``tokens`` starts with all of ``older`` and goes further."""
    return len(older) < len(tokens) and common_prefix(older, tokens) == len(older)
