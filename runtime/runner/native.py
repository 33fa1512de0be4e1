"""The one boundary with llama.cpp (through llama-cpp-python's low-level ctypes API).

Everything the runner asks of llama.cpp goes through :class:`LlamaModel` (weights,
adapters, one context shared by all sequences, the vocabulary) and :class:`Batch`. Only
the runner process imports this module: the server never loads llama.cpp.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import llama_cpp as llama

from ladle.errors import RunnerError
from runtime.protocol import LoadSpec, RunnerInfo
from runtime.runner.kv_cache import CacheLog, context_cache_params

LLAMA_CPP_BUILD = f"llama-cpp-python {llama.__version__}"
"""The llama.cpp build, as far as it says: a saved sequence state is only read back by
the build that wrote it (runtime.runner.prompt_cache)."""
LOG_TAIL_LINES = 20
"""llama.cpp warnings and errors kept to explain a failed load."""

_GGML_LOG_LEVEL_WARN = 3  # ggml.h: NONE, DEBUG, INFO, WARN, ERROR, CONT
_GGML_LOG_LEVEL_CONT = 5


class LlamaLog:
    """Routes llama.cpp's log to stderr (warnings and errors only) and keeps its tail."""

    def __init__(self) -> None:
        self.tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        self.cache = CacheLog()
        self._level = 0
        # ctypes must keep the callback object alive as long as llama.cpp may call it.
        self._callback = llama.llama_log_callback(self._on_log)
        llama.llama_log_set(self._callback, ctypes.c_void_p(0))

    @property
    def callback(self) -> Any:
        """The ctypes callback (kept alive here), for other libraries' logs (mtmd's)."""
        return self._callback

    def _on_log(self, level: int, text: bytes, _user_data: Any) -> None:
        if level != _GGML_LOG_LEVEL_CONT:
            self._level = level
        line = text.decode("utf-8", "replace")
        self.cache.read(line)
        if self._level < _GGML_LOG_LEVEL_WARN:
            return
        sys.stderr.write(line)
        if line.strip():
            self.tail.append(line.rstrip())

    def text(self) -> str:
        return "\n".join(self.tail)


class Batch:
    """A reusable ``llama_batch`` of up to ``capacity`` tokens, one sequence id each."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.raw = llama.llama_batch_init(capacity, 0, 1)
        self.n_tokens = 0

    def clear(self) -> None:
        self.n_tokens = 0

    def add(self, token: int, pos: int, seq_id: int, logits: bool) -> int:
        """Append one token; returns its index (where its logits will be)."""
        index = self.n_tokens
        raw = self.raw
        raw.token[index] = token
        raw.pos[index] = pos
        raw.n_seq_id[index] = 1
        raw.seq_id[index][0] = seq_id
        raw.logits[index] = logits
        self.n_tokens += 1
        return index

    @property
    def free(self) -> int:
        return self.capacity - self.n_tokens

    def close(self) -> None:
        llama.llama_batch_free(self.raw)


class LlamaModel:
    """A model, its adapters and one context of ``num_parallel`` sequences (plus one
    reserved for embeddings when the spec asks for them)."""

    def __init__(self, spec: LoadSpec, log: LlamaLog) -> None:
        started = time.perf_counter_ns()
        self.spec = spec
        self.n_ctx = spec.n_ctx  # per sequence: the runner keeps each sequence within it
        self.n_batch = _n_batch(spec)
        self.embed_seq_id = spec.num_parallel  # the extra sequence, when embedding
        llama.llama_backend_init()
        self.model = self._load_model(spec, log)
        self.vocab = llama.llama_model_get_vocab(self.model)
        self.n_swa: int = llama.llama_model_n_swa(self.model)
        """The sliding window of the model's SWA layers (0: none): those layers' cache
        holds only the last window of a sequence (see :meth:`forget`)."""
        self.n_vocab: int = llama.llama_vocab_n_tokens(self.vocab)
        self.adapters = [self._load_adapter(adapter.path, log) for adapter in spec.adapters]
        self.ctx = self._new_context(spec, log)
        self.flash_attention = log.cache.resolved(spec)
        self.kv_bytes = log.cache.kv_bytes
        self._set_adapters([adapter.scale for adapter in spec.adapters])
        self.memory = llama.llama_get_memory(self.ctx)
        self.load_duration_ns = time.perf_counter_ns() - started
        self._piece_buffer = ctypes.create_string_buffer(256)
        self._eog: tuple[int, ...] | None = None

    # Loading

    def _load_model(self, spec: LoadSpec, log: LlamaLog) -> Any:
        if not spec.model_path.is_file():
            raise RunnerError(f"model file {spec.model_path} does not exist")
        params = llama.llama_model_default_params()
        params.n_gpu_layers = _gpu_layers(spec.n_gpu_layers)
        params.main_gpu = spec.main_gpu
        if spec.use_mmap is not None:
            params.load_mode = llama.LLAMA_LOAD_MODE_MMAP if spec.use_mmap else 0
        model = llama.llama_model_load_from_file(os.fsencode(spec.model_path), params)
        if not model:
            raise RunnerError(f"llama.cpp rejected {spec.model_path}", log=log.text())
        return model

    def _load_adapter(self, path: os.PathLike[str], log: LlamaLog) -> Any:
        adapter = llama.llama_adapter_lora_init(self.model, os.fsencode(path))
        if not adapter:
            raise RunnerError(f"llama.cpp could not load the adapter {path}", log=log.text())
        return adapter

    def _new_context(self, spec: LoadSpec, log: LlamaLog) -> Any:
        n_seq = spec.num_parallel + (1 if spec.embedding else 0)
        params = llama.llama_context_default_params()
        params.n_ctx = spec.n_ctx * n_seq
        params.n_seq_max = n_seq
        # One KV stream per sequence, not one unified buffer: attention then runs over a
        # sequence's own cells only, which is faster with several sequences and gives a
        # sequence the same numbers (so the same greedy text) whatever its batch holds.
        params.kv_unified = False
        # Layers with sliding-window attention (Gemma 2 and 3, ...) cache only their
        # window, as llama-server runs them (llama.cpp's own default keeps every cell):
        # a fraction of the memory, and prompt evaluation that does not slow down with the
        # context on those layers. A cached prefix that needs cells gone from the window
        # is evaluated again (:meth:`forget`).
        params.swa_full = False
        params.n_batch = params.n_ubatch = self.n_batch
        threads = spec.n_threads or default_threads()
        params.n_threads = params.n_threads_batch = threads
        context_cache_params(params, spec)
        if spec.embedding and self._pooling_from_model() is None:
            params.pooling_type = llama.LLAMA_POOLING_TYPE_MEAN
        ctx = llama.llama_init_from_model(self.model, params)
        if not ctx:
            raise RunnerError("llama.cpp could not create a context", log=log.text())
        return ctx

    def _set_adapters(self, scales: Sequence[float]) -> None:
        if not self.adapters:
            return
        adapters = (llama.llama_adapter_lora_p_ctypes * len(self.adapters))(*self.adapters)
        weights = (ctypes.c_float * len(scales))(*scales)
        if llama.llama_set_adapters_lora(self.ctx, adapters, len(self.adapters), weights):
            raise RunnerError("llama.cpp could not apply the adapters")

    def _pooling_from_model(self) -> str | None:
        arch = self.meta("general.architecture") or ""
        return self.meta(f"{arch}.pooling_type")

    def meta(self, key: str) -> str | None:
        """A metadata value of the GGUF, as text."""
        buffer = ctypes.create_string_buffer(256)
        if llama.llama_model_meta_val_str(self.model, key.encode(), buffer, 256) < 0:
            return None
        return buffer.value.decode("utf-8", "replace")

    @property
    def size_bytes(self) -> int:
        """The weights' bytes."""
        return int(llama.llama_model_size(self.model))

    def info(self) -> RunnerInfo:
        total = llama.llama_model_n_layer(self.model)
        offload = llama.llama_supports_gpu_offload()
        gpu_layers = min(_gpu_layers(self.spec.n_gpu_layers), total + 1) if offload else 0
        size = llama.llama_model_size(self.model)
        return RunnerInfo(
            pid=os.getpid(),
            load=self.spec,
            load_duration_ns=self.load_duration_ns,
            n_ctx_train=llama.llama_model_n_ctx_train(self.model),
            gpu_layers=gpu_layers,
            total_layers=total,
            size_bytes=size,
            vram_bytes=size * min(gpu_layers, total) // max(total, 1),
            flash_attention=self.flash_attention,
            kv_cache_bytes=self.kv_bytes,
        )

    # Vocabulary

    def tokenize(
        self, text: str, *, add_special: bool = True, parse_special: bool = True
    ) -> list[int]:
        data = text.encode("utf-8")
        capacity = len(data) + 8
        tokens = (llama.llama_token * capacity)()
        n = llama.llama_tokenize(
            self.vocab, data, len(data), tokens, capacity, add_special, parse_special
        )
        if n < 0:  # the buffer was too small: -n is the size needed
            capacity = -n
            tokens = (llama.llama_token * capacity)()
            n = llama.llama_tokenize(
                self.vocab, data, len(data), tokens, capacity, add_special, parse_special
            )
        return list(tokens[:n])

    def piece(self, token: int, *, special: bool = False) -> bytes:
        """The bytes of one token as generated text (a control token renders as nothing
        unless ``special``)."""
        buffer = self._piece_buffer
        n = llama.llama_token_to_piece(self.vocab, token, buffer, len(buffer), 0, special)
        if n < 0:
            buffer = ctypes.create_string_buffer(-n)
            n = llama.llama_token_to_piece(self.vocab, token, buffer, -n, 0, special)
        return buffer.raw[:n]

    def detokenize(self, tokens: Sequence[int]) -> str:
        array = (llama.llama_token * len(tokens))(*tokens)
        capacity = 16 * len(tokens) + 16
        text = ctypes.create_string_buffer(capacity)
        n = llama.llama_detokenize(self.vocab, array, len(tokens), text, capacity, False, True)
        if n < 0:
            capacity = -n
            text = ctypes.create_string_buffer(capacity)
            n = llama.llama_detokenize(self.vocab, array, len(tokens), text, capacity, False, True)
        return text.raw[:n].decode("utf-8", "replace")

    @property
    def bos(self) -> int | None:
        """The BOS token that tokenizing a text puts first, if the model adds one."""
        if not llama.llama_vocab_get_add_bos(self.vocab):
            return None
        return int(llama.llama_vocab_bos(self.vocab))

    def is_eog(self, token: int) -> bool:
        return bool(llama.llama_vocab_is_eog(self.vocab, token))

    def eog_tokens(self) -> tuple[int, ...]:
        """Every end-of-generation token (scanned once, on first use)."""
        if self._eog is None:
            self._eog = tuple(t for t in range(self.n_vocab) if self.is_eog(t))
        return self._eog

    # Evaluation

    def decode(self, batch: Batch) -> int:
        batch.raw.n_tokens = batch.n_tokens
        return int(llama.llama_decode(self.ctx, batch.raw))

    def forget(self, seq_id: int, start: int = 0, end: int = -1) -> bool:
        """Drop ``seq_id``'s cache at positions ``start`` to ``end`` (excluded; -1: to
        its end); False, and nothing dropped, if it cannot: a partial cut of some caches
        (recurrent ones), or a cut back to where a sliding-window layer no longer holds
        the window the next token attends to (its older cells were reused)."""
        if start > 0 and end < 0 and not self.window_kept(seq_id, start):
            return False
        return bool(llama.llama_memory_seq_rm(self.memory, seq_id, start, end))

    def window_kept(self, seq_id: int, length: int) -> bool:
        """Whether ``seq_id``'s cache, cut to its first ``length`` tokens, still holds
        every cell the next token's sliding window covers (always without SWA layers)."""
        if self.n_swa <= 0:
            return True
        oldest: int = llama.llama_memory_seq_pos_min(self.memory, seq_id)
        return oldest <= max(0, length - self.n_swa)

    @property
    def can_shift(self) -> bool:
        """Whether cached positions can be moved (:meth:`move`); not for every model."""
        return bool(llama.llama_memory_can_shift(self.memory))

    def move(self, seq_id: int, start: int, delta: int) -> None:
        """Add ``delta`` to the positions of ``seq_id``'s cache from ``start`` on (llama.cpp
        re-rotates their keys before the next decode)."""
        llama.llama_memory_seq_add(self.memory, seq_id, start, -1, delta)

    def copy(self, source: int, target: int) -> None:
        """Make ``target``'s cache a copy of ``source``'s (all of it: with one KV stream
        per sequence llama.cpp copies only whole streams, done at the next decode)."""
        llama.llama_memory_seq_cp(self.memory, source, target, -1, -1)

    def sequence_state(self, seq_id: int) -> bytes:
        """``seq_id``'s cache as llama.cpp serializes it (positions, keys, values)."""
        size = llama.llama_state_seq_get_size(self.ctx, seq_id)
        buffer = (ctypes.c_uint8 * size)()
        written = llama.llama_state_seq_get_data(self.ctx, buffer, size, seq_id)
        return bytes(buffer)[:written]

    def restore_sequence(self, seq_id: int, state: bytes) -> bool:
        """Load a :meth:`sequence_state` into ``seq_id`` (emptied first); False if
        llama.cpp refuses it (another shape of cache)."""
        self.forget(seq_id)
        buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
        if llama.llama_state_seq_set_data(self.ctx, buffer, len(state), seq_id) > 0:
            return True
        self.forget(seq_id)
        return False

    def set_embeddings(self, on: bool) -> None:
        llama.llama_set_embeddings(self.ctx, on)

    def pooled_embedding(self, seq_id: int) -> list[float]:
        n_embd = llama.llama_model_n_embd(self.model)
        pointer = llama.llama_get_embeddings_seq(self.ctx, seq_id)
        if not pointer:
            raise RunnerError("this model gives no pooled embeddings")
        return [float(pointer[i]) for i in range(n_embd)]

    def close(self) -> None:
        for adapter in self.adapters:
            llama.llama_adapter_lora_free(adapter)
        llama.llama_free(self.ctx)
        llama.llama_model_free(self.model)


def default_threads() -> int:
    """Threads when the spec does not say: the CPUs this process may run on."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def _gpu_layers(n_gpu_layers: int) -> int:
    return 2**31 - 1 if n_gpu_layers < 0 else n_gpu_layers


def _n_batch(spec: LoadSpec) -> int:
    # A pooled embedding needs the whole text in one micro-batch.
    return max(spec.n_batch, spec.n_ctx) if spec.embedding else spec.n_batch
