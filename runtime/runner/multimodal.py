"""Images in a prompt, read by the model's vision projector through llama.cpp's mtmd.

A model whose image has a projector layer loads it here (:func:`load_projector`) beside
its weights. A request's prompt text then holds one :data:`~runtime.protocol.IMAGE_MARKER`
per image, where its template put the image; :meth:`Projector.prompt` splits the text at
the markers and has mtmd turn each image (RGB pixels, decoded and checked by the server)
into image *chunks*: the embeddings the projector gives, as many as the image takes
positions in the sequence.

The engine's prefix reuse compares token lists, so a :class:`MediaPrompt` stands each
image's positions in with a placeholder id made from the image's digest (negative: never
a vocabulary id). A cached prefix that holds an image is then reused only by a prompt
with the same image bytes in the same place, and two different images never match.

The images are evaluated when the job takes its slot (:meth:`MediaPrompt.evaluate`): the
text before each image through the batch, each image by mtmd's helper (which encodes it
and decodes its embeddings, with the attention the model asks for, as llama.cpp's server
does). The other sequences wait for that one step; the text after the last image goes
through the engine's batches as any prompt does. As in llama.cpp's server, a sequence
with images does not shift its context (its placeholders cannot be evaluated again).

Projectors that place image tokens with M-RoPE (Qwen2-VL and its kin) are refused at
load: their positions are not the sequence's token count the engine keeps. mtmd can
also read audio (Ultravox, Qwen2-Audio, Voxtral projectors); ladle does not send audio.
"""

from __future__ import annotations

import ctypes
import os
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import llama_cpp as llama
import llama_cpp.mtmd_cpp as mtmd

from ladle.errors import ContextOverflowError, InvalidRequestError, RunnerError
from runtime.protocol import IMAGE_MARKER, GenerateRequest, ImageInput, LoadSpec

from .native import Batch, LlamaLog, LlamaModel, default_threads

PLACEHOLDER_IDS = 2**30
"""Placeholder ids are -1 .. -PLACEHOLDER_IDS, from the image's digest."""


@dataclass(frozen=True)
class ImageSpan:
    """Where one image lies in a :class:`MediaPrompt`'s tokens, and its mtmd chunk."""

    start: int
    end: int
    chunk: int
    """The ``mtmd_input_chunk`` (owned by the prompt's chunk list)."""


class Projector:
    """A vision projector loaded beside a model (an ``mtmd_context``)."""

    def __init__(self, path: Path, model: LlamaModel, log: LlamaLog) -> None:
        params = mtmd.mtmd_context_params_default()
        params.use_gpu = model.spec.n_gpu_layers != 0 and bool(llama.llama_supports_gpu_offload())
        params.n_threads = model.spec.n_threads or default_threads()
        params.print_timings = False
        self._marker = IMAGE_MARKER.encode()  # kept alive while mtmd reads it
        params.media_marker = self._marker
        # mtmd and its helpers log through the model's log: warnings and errors only.
        mtmd.mtmd_log_set(log.callback, ctypes.c_void_p(0))
        mtmd.mtmd_helper_log_set(log.callback, ctypes.c_void_p(0))
        ctx = mtmd.mtmd_init_from_file(os.fsencode(path), model.model, params)
        if not ctx:
            raise RunnerError(f"llama.cpp could not load the projector {path}", log=log.text())
        self.ctx = ctx
        self.model = model
        if not mtmd.mtmd_support_vision(ctx):
            self.close()
            raise RunnerError(f"the projector {path} reads no images (an audio projector)")
        if mtmd.mtmd_decode_use_mrope(ctx):
            self.close()
            raise RunnerError(
                f"the projector {path} places images with M-RoPE (the Qwen2-VL family), "
                "which ladle's runner does not support yet"
            )

    def prompt(
        self, text: str, images: Sequence[ImageInput], context: Sequence[int]
    ) -> MediaPrompt:
        """``text`` with ``images`` at its markers, after the ``context`` ids."""
        markers = text.count(IMAGE_MARKER)
        if markers != len(images):
            raise InvalidRequestError(
                f"the prompt has {markers} image places ({IMAGE_MARKER}) for {len(images)} images"
            )
        chunks = mtmd.mtmd_input_chunks_init()
        prompt = MediaPrompt(self.ctx, chunks, list(context))
        data = text.encode("utf-8")
        part = mtmd.mtmd_input_text(data, len(data), not context, True)
        bitmaps: list[int] = []
        try:
            bitmaps += (_bitmap(image) for image in images)
            array = (mtmd.mtmd_bitmap_p_ctypes * max(len(bitmaps), 1))(*bitmaps)
            code = mtmd.mtmd_tokenize(self.ctx, chunks, ctypes.byref(part), array, len(bitmaps))
        finally:
            for bitmap in bitmaps:
                mtmd.mtmd_bitmap_free(bitmap)
        if code != 0:
            raise InvalidRequestError(f"mtmd could not read the prompt's images (status {code})")
        prompt.read_chunks()
        return prompt

    def close(self) -> None:
        mtmd.mtmd_free(self.ctx)


def load_projector(spec: LoadSpec, model: LlamaModel, log: LlamaLog) -> Projector | None:
    """The spec's projector, loaded for ``model``; None when it has none."""
    if spec.projector_path is None:
        return None
    return Projector(spec.projector_path, model, log)


def _bitmap(image: ImageInput) -> int:
    if len(image.rgb) != image.width * image.height * 3:
        raise InvalidRequestError(f"an image's pixels are not {image.width}x{image.height} RGB")
    pixels = (ctypes.c_uint8 * len(image.rgb)).from_buffer_copy(image.rgb)
    bitmap = mtmd.mtmd_bitmap_init(image.width, image.height, pixels)
    if not bitmap:
        raise RunnerError("mtmd could not hold an image")
    mtmd.mtmd_bitmap_set_id(bitmap, image.digest.encode())
    return int(bitmap)


class MediaPrompt:
    """A prompt's tokens with placeholders for its images, and the images' chunks."""

    def __init__(self, ctx: int, chunks: int, context: list[int]) -> None:
        self.tokens = context
        self.spans: list[ImageSpan] = []
        self._ctx, self._chunks = ctx, chunks
        self._free = weakref.finalize(self, mtmd.mtmd_input_chunks_free, chunks)

    def read_chunks(self) -> None:
        """Append the chunks' text tokens, and each image's placeholders."""
        for index in range(mtmd.mtmd_input_chunks_size(self._chunks)):
            chunk = mtmd.mtmd_input_chunks_get(self._chunks, index)
            kind = mtmd.mtmd_input_chunk_get_type(chunk)
            if kind == mtmd.MTMD_INPUT_CHUNK_TYPE_TEXT:
                count = ctypes.c_size_t(0)
                ids = mtmd.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(count))
                self.tokens += [int(ids[i]) for i in range(count.value)] if ids else []
            elif kind == mtmd.MTMD_INPUT_CHUNK_TYPE_IMAGE:
                n_tokens = int(mtmd.mtmd_input_chunk_get_n_tokens(chunk))
                start = len(self.tokens)
                self.tokens += [placeholder(mtmd.mtmd_input_chunk_get_id(chunk))] * n_tokens
                self.spans.append(ImageSpan(start, len(self.tokens), int(chunk)))
            else:
                raise InvalidRequestError("ladle sends images only, not audio")
        if self.spans and self.spans[-1].end == len(self.tokens):
            raise InvalidRequestError("the prompt must go on after its last image")

    @property
    def text_tokens(self) -> list[int]:
        """The prompt's real token ids (its placeholders left out)."""
        return [token for token in self.tokens if token >= 0]

    def snap(self, keep: int) -> int:
        """``keep`` cached tokens, moved back to the start of an image it would cut."""
        for span in self.spans:
            if span.start < keep < span.end:
                return span.start
        return keep

    def evaluate(self, model: LlamaModel, batch: Batch, seq_id: int, start: int) -> int:
        """Evaluate the tokens from ``start`` through the last image into ``seq_id``'s
        cache (``start`` must not cut an image: :meth:`snap`); returns where it stopped.
        The chunks are freed after: the images are in the cache now."""
        position = start
        for span in self.spans:
            if span.end <= position:
                continue
            _decode_text(model, batch, seq_id, self.tokens, position, span.start)
            self._decode_image(model, seq_id, span)
            position = span.end
        self._free()
        return position

    def _decode_image(self, model: LlamaModel, seq_id: int, span: ImageSpan) -> None:
        n_past = llama.llama_pos(0)
        code = mtmd.mtmd_helper_eval_chunk_single(
            self._ctx, model.ctx, span.chunk, span.start, seq_id, model.n_batch, False,
            ctypes.byref(n_past),
        )  # fmt: skip
        if code != 0:
            raise RunnerError(f"mtmd could not evaluate an image (status {code})")


def _decode_text(
    model: LlamaModel, batch: Batch, seq_id: int, tokens: list[int], start: int, end: int
) -> None:
    """Decode ``tokens[start:end]`` at their positions, a batch at a time (no logits)."""
    for first in range(start, end, batch.capacity):
        batch.clear()
        for position in range(first, min(first + batch.capacity, end)):
            batch.add(tokens[position], position, seq_id, False)
        if (code := model.decode(batch)) != 0:
            raise RunnerError(f"llama_decode failed with status {code}")
    batch.clear()


def placeholder(image_id: bytes | None) -> int:
    """The id that stands for each position of the image ``image_id`` (its digest)."""
    digest = (image_id or b"").decode("ascii", "replace").removeprefix("sha256:")
    try:
        value = int(digest[:15], 16)
    except ValueError:
        value = 0
    return -1 - value % PLACEHOLDER_IDS


def media_prompt(
    projector: Projector | None, request: GenerateRequest, model: LlamaModel
) -> MediaPrompt | None:
    """The request's prompt with its images in place; None for a request without any."""
    if not request.images:
        return None
    if projector is None:
        raise InvalidRequestError("this model has no vision projector: it cannot read images")
    if not isinstance(request.prompt, str):
        raise InvalidRequestError("a prompt with images must be text, not token ids")
    # An earlier answer's placeholders are not tokens: such a context is refused here, as
    # the engine refuses it for a prompt without images.
    if any(not 0 <= token < model.n_vocab for token in request.context):
        raise InvalidRequestError(
            f"context: a token id is outside the vocabulary of {model.n_vocab}"
        )
    prompt = projector.prompt(request.prompt, request.images, request.context)
    if len(prompt.tokens) > model.n_ctx:  # images cannot be cut: no truncation
        raise ContextOverflowError(len(prompt.tokens), model.n_ctx)
    return prompt


def admit_media(
    media: MediaPrompt, model: LlamaModel, batch: Batch, seq_id: int, cache: list[int], kept: int
) -> tuple[int, int]:
    """Evaluate a job's prompt through its last image into ``seq_id``, whose cache holds
    ``cache`` (the prompt's first ``kept`` tokens, reused); a reused prefix that ends
    inside an image is cut back to the image's start. Returns the tokens kept from the
    cache and where the evaluation stopped; ``cache`` is updated in place."""
    keep = media.snap(kept)
    if keep < len(cache) and not model.forget(seq_id, keep):
        model.forget(seq_id)  # this cache cannot be cut: start over
        keep = 0
    del cache[keep:]
    end = media.evaluate(model, batch, seq_id, keep)
    cache += media.tokens[keep:end]
    return keep, end
