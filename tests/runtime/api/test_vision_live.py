"""Images through a live ``ladle serve``: the official ``ollama`` and ``openai`` clients,
unchanged, and Anthropic's Messages API, on the tiny model with the tiny projector; bad
images are 4xx answers and the server keeps serving."""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import ollama
import openai
import pytest

from builder.store.store import Store
from tests.fixtures.tiny_projector import png_bytes, write_tiny_projector

from .conftest import TINY_MODELFILE, build
from .test_live_server import Server, live_server

N_IMAGE_TOKENS = 16  # the tiny projector: (56 / 14) ** 2 patches
VISION = "tiny-vision"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("live-vision")
    projector = write_tiny_projector(root / "mmproj.gguf")
    store = Store(root / "built")
    build(store, root / "src", "tiny", TINY_MODELFILE.format(model=tiny_model))
    vision = TINY_MODELFILE.format(model=tiny_model) + f"FROM {projector}\n"
    build(store, root / "src", VISION, vision)
    with live_server(store.root, root / "live") as server:
        yield server


@pytest.fixture
def client(served: Server) -> ollama.Client:
    return ollama.Client(host=served.url, timeout=120)


def data_url(data: bytes, kind: str = "png") -> str:
    return f"data:image/{kind};base64,{base64.b64encode(data).decode()}"


def test_show_says_vision(client: ollama.Client) -> None:
    assert "vision" in (client.show(VISION).capabilities or [])
    assert "vision" not in (client.show("tiny").capabilities or [])


def test_generate_with_images_counts_the_image_tokens(client: ollama.Client) -> None:
    plain = client.generate(model=VISION, prompt="hello", options={"num_predict": 2})
    seen = client.generate(
        model=VISION, prompt="hello", images=[png_bytes(seed=1)], options={"num_predict": 2}
    )
    assert seen.done and seen.response
    # The text is tokenized in pieces split at the image: one token may differ there.
    added = (seen.prompt_eval_count or 0) - (plain.prompt_eval_count or 0)
    assert N_IMAGE_TOKENS <= added <= N_IMAGE_TOKENS + 1


def test_chat_with_images_and_a_fixed_seed(client: ollama.Client, tmp_path: Path) -> None:
    path = tmp_path / "picture.png"
    path.write_bytes(png_bytes(seed=2))
    options = {"num_predict": 6, "seed": 3, "temperature": 0.8}
    messages = [{"role": "user", "content": "what is this?", "images": [path]}]
    first = client.chat(model=VISION, messages=messages, options=options)
    again = client.chat(model=VISION, messages=messages, options=options)
    assert first.message.content and first.message.content == again.message.content
    other = [{"role": "user", "content": "what is this?", "images": [png_bytes(seed=9)]}]
    assert client.chat(model=VISION, messages=other, options={"num_predict": 1}).done


def test_openai_image_url_parts(served: Server) -> None:
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key="unused", timeout=120)
    content: list[openai.types.chat.ChatCompletionContentPartParam] = [
        {"type": "text", "text": "describe"},
        {"type": "image_url", "image_url": {"url": data_url(png_bytes(seed=4))}},
    ]
    answer = client.chat.completions.create(
        model=VISION, messages=[{"role": "user", "content": content}], max_tokens=3
    )
    assert answer.choices[0].message.content
    assert answer.usage is not None and answer.usage.prompt_tokens > N_IMAGE_TOKENS
    remote: list[openai.types.chat.ChatCompletionContentPartParam] = [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    ]
    with pytest.raises(openai.BadRequestError, match=r"image_url.*data URL"):
        client.chat.completions.create(model=VISION, messages=[{"role": "user", "content": remote}])


def test_openai_responses_input_image(served: Server) -> None:
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key="unused", timeout=120)
    image = {"type": "input_image", "image_url": data_url(png_bytes(seed=7)), "detail": "auto"}
    message: Any = {"role": "user", "content": [{"type": "input_text", "text": "hi"}, image]}
    answer = client.responses.create(model=VISION, input=[message], max_output_tokens=3)
    assert answer.usage is not None and answer.usage.input_tokens > N_IMAGE_TOKENS


def test_anthropic_image_blocks(served: Server) -> None:
    image = base64.b64encode(png_bytes(seed=5)).decode()
    source = {"type": "base64", "media_type": "image/png", "data": image}
    body = {
        "model": VISION,
        "max_tokens": 3,
        "messages": [
            {
                "role": "user",
                "content": [{"type": "image", "source": source}, {"type": "text", "text": "hi"}],
            }
        ],
    }
    answer = httpx.post(f"{served.url}/v1/messages", json=body, timeout=120)
    assert answer.status_code == 200, answer.text
    assert answer.json()["usage"]["input_tokens"] > N_IMAGE_TOKENS


def test_create_with_a_projector_file_through_the_ollama_client(
    client: ollama.Client, served: Server, tiny_model: Path, tmp_path: Path
) -> None:
    projector = write_tiny_projector(tmp_path / "mmproj.gguf")
    files = {path.name: client.create_blob(path) for path in (tiny_model, projector)}
    assert client.create(model="made-vision", files=files).status == "success"
    assert "vision" in (client.show("made-vision").capabilities or [])
    seen = client.generate(model="made-vision", prompt="hi", images=[png_bytes(seed=8)])
    assert seen.done and (seen.prompt_eval_count or 0) > N_IMAGE_TOKENS
    named = {projector.name: files[projector.name]}  # the model by name, the projector a file
    assert client.create(model="named-vision", from_="tiny", files=named).status == "success"
    assert "vision" in (client.show("named-vision").capabilities or [])


def test_a_model_without_a_projector_gives_ollamas_error(client: ollama.Client) -> None:
    with pytest.raises(
        ollama.ResponseError, match='"tiny:latest" does not support vision'
    ) as error:
        client.generate(model="tiny", prompt="hi", images=[png_bytes()])
    assert error.value.status_code == 400


def png_claiming(width: int, height: int) -> bytes:
    """A PNG header that claims ``width x height`` pixels, with one tiny IDAT."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


@pytest.mark.parametrize(
    ("image", "words"),
    [
        (b"", "empty"),
        (png_claiming(100_000, 100_000), "over the limit of 50,000,000 pixels"),
        (bytes(range(256)) * 8, "not an image"),
        (png_bytes(seed=6)[:200], "cannot be decoded"),
    ],
    ids=["zero-bytes", "bomb-header", "random-bytes", "truncated"],
)
def test_bad_images_are_400s_and_the_server_keeps_serving(
    served: Server, image: bytes, words: str
) -> None:
    body = {"model": VISION, "prompt": "hi", "images": [base64.b64encode(image).decode()]}
    answer = httpx.post(f"{served.url}/api/generate", json=body, timeout=120)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith("images: ") and words in answer.json()["error"]
    good = {**body, "images": [base64.b64encode(png_bytes()).decode()], "stream": False}
    assert httpx.post(f"{served.url}/api/generate", json=good, timeout=120).status_code == 200


def test_a_50_mb_image_is_refused_and_memory_comes_back(served: Server) -> None:
    before = _rss(served)
    huge = base64.b64encode(b"\0" * (50 * 2**20)).decode()
    body = {"model": VISION, "prompt": "hi", "images": [huge]}
    answer = httpx.post(f"{served.url}/api/generate", json=body, timeout=120)
    assert answer.status_code == 413 and "LADLE_MAX_BODY_BYTES" in answer.text
    good = {"model": VISION, "prompt": "hi", "images": [base64.b64encode(png_bytes()).decode()]}
    assert httpx.post(f"{served.url}/api/generate", json=good, timeout=120).status_code == 200
    assert _rss(served) < before + 40 * 2**20


def _rss(served: Server) -> int:
    """The server process's resident memory, in bytes."""
    status = Path(f"/proc/{served.process.pid}/status").read_text()
    kilobytes = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))
    return int(kilobytes) * 1024
