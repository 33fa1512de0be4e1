"""Images a request sends: decoded and checked here, then placed in the prompt.

Every API hands its images here as bytes (Ollama's ``images``, base64; OpenAI's
``image_url`` data URLs; Anthropic's ``image`` blocks): :func:`decode_image` reads one
with Pillow, safely, before anything reaches llama.cpp:

* at most :data:`MAX_IMAGE_BYTES` of encoded data, in one of :data:`FORMATS` (PNG, JPEG,
  WebP, GIF: the first frame), told by its content, not by a name or a MIME type;
* its size is read from the header first, and an image over :data:`MAX_IMAGE_PIXELS`
  (a decompression bomb: a PNG that claims 100,000 x 100,000 pixels) is refused before
  any pixel is decoded (Pillow's own check, global state, is left as it is: ours is
  stricter);
* a truncated or corrupt file fails to decode, and is refused;
* the pixels are converted to plain RGB, scaled down to :data:`MAX_IMAGE_SIDE` on the
  longer side (every projector ladle loads resizes to far less), for mtmd's bitmap.

Each failure is an :class:`~ladle.errors.InvalidFieldError` naming the field (a 400).
Decoding costs CPU: it runs in the request's worker thread (``Service._prepare``), never
on the event loop.

:func:`place_images` puts one :data:`~runtime.protocol.IMAGE_MARKER` per image in the
messages before the template renders them, as Ollama does (``server/prompt.go``): before
the message's text, or in place of an ``[img]`` the text holds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
from collections.abc import Sequence
from typing import Any

from ladle.errors import InvalidFieldError
from runtime.images import ResolvedModel
from runtime.protocol import IMAGE_MARKER, ImageInput

MAX_IMAGE_BYTES = 20 * 1024 * 1024
"""The largest encoded image (OpenAI's limit per image)."""
MAX_IMAGE_PIXELS = 50_000_000
"""The most pixels an image may decode to (a 48-megapixel photo fits; its RGB is 150 MB)."""
MAX_IMAGE_SIDE = 2048
"""Longer images are scaled down to this many pixels on their longer side."""
FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
OLLAMA_IMAGE_TAG = "[img]"
"""Where a message's text asks for its next image (Ollama's ``[img]``)."""


def decode_base64_image(value: Any, field: str) -> ImageInput:
    """An Ollama ``images`` item: base64 text (a data URL is accepted too)."""
    if not isinstance(value, str):
        raise InvalidFieldError(field, "an image must be base64 text")
    if value.startswith("data:"):
        return decode_data_url(value, field)
    return decode_image(_base64(value, field), field)


def decode_data_url(url: str, field: str) -> ImageInput:
    """A ``data:image/...;base64,...`` URL's image."""
    head, comma, data = url.partition(",")
    if not comma or not head.startswith("data:") or not head.endswith(";base64"):
        raise InvalidFieldError(field, "a data URL must be data:image/<type>;base64,<data>")
    return decode_image(_base64(data, field), field)


def _base64(text: str, field: str) -> bytes:
    if len(text) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        raise InvalidFieldError(field, f"an image is over {MAX_IMAGE_BYTES // 2**20} MiB")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidFieldError(field, "an image is not valid base64") from None


def decode_image(data: bytes, field: str) -> ImageInput:
    """``data`` decoded to RGB pixels, checked as the module says."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise InvalidFieldError(field, "an image is empty (0 bytes)")
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidFieldError(field, f"an image is over {MAX_IMAGE_BYTES // 2**20} MiB")
    try:
        # Pillow refuses past twice its own limit as it opens the header; the pixel
        # check here comes before any pixel is decoded, and is stricter than Pillow's.
        with Image.open(io.BytesIO(data), formats=FORMATS) as image:
            _check_size(image.size, field)
            if image.format == "JPEG":  # decode a large JPEG at a fraction of its size
                image.draft("RGB", (MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
            image.load()  # the first frame of a GIF; a truncated file fails here
            rgb = image.convert("RGB")
    except InvalidFieldError:
        raise
    except UnidentifiedImageError:
        raise InvalidFieldError(field, f"not an image ladle reads ({', '.join(FORMATS)})") from None
    except Image.DecompressionBombError as error:
        reason = f"an image is over the limit of {MAX_IMAGE_PIXELS:,} pixels: {error}"
        raise InvalidFieldError(field, reason) from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise InvalidFieldError(field, f"an image cannot be decoded: {error}") from None
    rgb.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return ImageInput(width=rgb.width, height=rgb.height, rgb=rgb.tobytes(), digest=digest)


def _check_size(size: tuple[int, int], field: str) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise InvalidFieldError(field, "an image has no pixels")
    if width * height > MAX_IMAGE_PIXELS:
        raise InvalidFieldError(
            field,
            f"an image is over the limit of {MAX_IMAGE_PIXELS:,} pixels: {width}x{height}",
        )


def with_markers(text: str, count: int) -> str:
    """``text`` with ``count`` image markers: in place of its ``[img]`` tags, the rest
    before it (Ollama's ``chatPrompt``)."""
    prefix = ""
    for _ in range(count):
        if OLLAMA_IMAGE_TAG in text:
            text = text.replace(OLLAMA_IMAGE_TAG, IMAGE_MARKER, 1)
        else:
            prefix += IMAGE_MARKER
    return prefix + text


def require_vision(model: ResolvedModel, field: str) -> None:
    """Ollama's 400 for images sent to a model without a projector."""
    if model.projector_path is None:
        raise InvalidFieldError(field, f'"{model.name.display()}" does not support vision')


def request_images(model: ResolvedModel, values: Sequence[Any] | None) -> tuple[ImageInput, ...]:
    """``/api/generate``'s ``images``, decoded (none: an empty tuple)."""
    if not values:
        return ()
    require_vision(model, "images")
    return tuple(decode_base64_image(value, "images") for value in values)


def place_images(
    model: ResolvedModel, messages: Sequence[Any], field: str = "messages.images"
) -> tuple[list[Any], tuple[ImageInput, ...]]:
    """The messages with markers where their ``images`` go (the field dropped), and the
    images decoded, in the order of the markers."""
    placed: list[Any] = []
    images: list[ImageInput] = []
    for message in messages:
        sent = message.get("images") or []
        if not sent:
            placed.append(message)
            continue
        require_vision(model, field)
        decoded = [decode_base64_image(value, field) for value in sent]
        text = str(message.get("content") or "")
        tagged = min(text.count(OLLAMA_IMAGE_TAG), len(decoded))
        images += decoded[tagged:] + decoded[:tagged]  # the untagged ones go first
        content = with_markers(text, len(sent))
        placed.append({k: v for k, v in message.items() if k != "images"} | {"content": content})
    return placed, tuple(images)
