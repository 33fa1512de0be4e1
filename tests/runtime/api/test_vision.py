"""Decoding and placing a request's images (runtime.api.vision), without a server."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import pytest
from PIL import Image

from ladle.errors import InvalidFieldError
from runtime.api.vision import (
    MAX_IMAGE_SIDE,
    decode_base64_image,
    decode_image,
    with_markers,
)
from runtime.protocol import IMAGE_MARKER
from tests.fixtures.tiny_projector import png_bytes, random_rgb


def encoded(image: Image.Image, format: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=format, **options)
    return out.getvalue()


def picture(width: int = 40, height: int = 30, mode: str = "RGB") -> Image.Image:
    return Image.frombytes("RGB", (width, height), random_rgb(width, height, 1)).convert(mode)


@pytest.mark.parametrize(
    ("format", "mode"), [("PNG", "RGBA"), ("PNG", "P"), ("JPEG", "L"), ("WEBP", "RGB")]
)
def test_each_format_becomes_rgb(format: str, mode: str) -> None:
    decoded = decode_image(encoded(picture(mode=mode), format), "images")
    assert (decoded.width, decoded.height) == (40, 30)
    assert len(decoded.rgb) == 40 * 30 * 3
    assert decoded.digest.startswith("sha256:")


def test_a_gif_gives_its_first_frame() -> None:
    frames = [picture().convert("P"), Image.new("P", (40, 30), 3)]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    decoded = decode_image(data, "images")
    assert decoded.rgb == frames[0].convert("RGB").tobytes()


@pytest.mark.parametrize("format", ["PNG", "JPEG"])
def test_a_large_image_is_scaled_down_keeping_its_shape(format: str) -> None:
    decoded = decode_image(encoded(Image.new("RGB", (4096, 1024)), format), "images")
    assert (decoded.width, decoded.height) == (MAX_IMAGE_SIDE, MAX_IMAGE_SIDE // 4)


def test_the_pixel_limit_is_checked_before_decoding() -> None:
    # 10000 x 6000: under Pillow's own bomb limit, over ladle's 50 megapixels.
    header = struct.pack(">IIBBBBB", 10_000, 6_000, 8, 2, 0, 0, 0)
    ihdr = b"IHDR" + header
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr
    data += struct.pack(">I", zlib.crc32(ihdr) & 0xFFFFFFFF) + b"\0\0\0\0IEND\xaeB`\x82"
    with pytest.raises(InvalidFieldError, match="50,000,000 pixels: 10000x6000"):
        decode_image(data, "images")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (3, "base64 text"),
        ("not base64!", "not valid base64"),
        ("data:image/png,abc", "data URL"),
        (base64.b64encode(b"GIF89a").decode(), "not an image ladle reads"),
    ],
)
def test_bad_values_name_the_field(value: object, words: str) -> None:
    with pytest.raises(InvalidFieldError, match=words) as error:
        decode_base64_image(value, "messages.images")
    assert error.value.field == "messages.images"


def test_a_data_url_is_read() -> None:
    url = "data:image/png;base64," + base64.b64encode(png_bytes(8, 8)).decode()
    assert decode_base64_image(url, "images").width == 8


def test_markers_go_first_or_where_the_text_says() -> None:
    assert with_markers("what?", 2) == f"{IMAGE_MARKER}{IMAGE_MARKER}what?"
    assert with_markers("a [img] b", 1) == f"a {IMAGE_MARKER} b"
    assert with_markers("a [img] b", 2) == f"{IMAGE_MARKER}a {IMAGE_MARKER} b"
