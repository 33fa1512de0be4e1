"""Images through a real runner: the tiny model with the tiny projector (mtmd)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ladle.errors import InvalidRequestError
from runtime.protocol import IMAGE_MARKER, GenerateRequest, ImageInput, SamplingOptions
from tests.fixtures.tiny_projector import random_rgb, write_tiny_projector
from tests.runtime.runner.conftest import StartRunner, complete

pytestmark = pytest.mark.anyio

N_IMAGE_TOKENS = 16  # (56 / 14) ** 2 patches
GREEDY = SamplingOptions(temperature=0.0, seed=7)


@pytest.fixture(scope="module")
def projector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_projector(tmp_path_factory.mktemp("projector") / "mmproj.gguf")


def image(seed: int, width: int = 64, height: int = 48) -> ImageInput:
    rgb = random_rgb(width, height, seed)
    digest = "sha256:" + hashlib.sha256(rgb).hexdigest()
    return ImageInput(width=width, height=height, rgb=rgb, digest=digest)


def request(*images: ImageInput, text: str = "hello", **fields: object) -> GenerateRequest:
    prompt = "".join(f"{IMAGE_MARKER}\n" for _ in images) + text
    return GenerateRequest(
        prompt=prompt,
        images=images,
        sampling=GREEDY,
        num_predict=8,
        logprobs=True,
        top_logprobs=5,
        **fields,
    )


async def test_image_tokens_count_in_the_prompt(
    start: StartRunner, tiny_model: Path, projector: Path
) -> None:
    runner = await start(tiny_model, projector_path=projector)
    _, plain = await complete(runner, GenerateRequest(prompt="\nhello", num_predict=1))
    _, seen = await complete(runner, request(image(1)))
    assert seen.prompt_eval_count == plain.prompt_eval_count + N_IMAGE_TOKENS


async def test_different_images_give_different_logits_and_the_same_one_the_same(
    start: StartRunner, tiny_model: Path, projector: Path
) -> None:
    runner = await start(tiny_model, projector_path=projector, num_parallel=1)
    text_a, first = await complete(runner, request(image(1)))
    _, other = await complete(runner, request(image(2)))
    text_b, again = await complete(runner, request(image(1)))
    assert first.logprobs[0].top != other.logprobs[0].top
    assert (text_a, first.logprobs[0].top) == (text_b, again.logprobs[0].top)


async def test_a_cached_image_is_reused_only_for_the_same_bytes(
    start: StartRunner, tiny_model: Path, projector: Path
) -> None:
    runner = await start(tiny_model, projector_path=projector, num_parallel=1)
    await complete(runner, request(image(1), text="hello world"))
    _, same = await complete(runner, request(image(1), text="hello you"))
    _, other = await complete(runner, request(image(2), text="hello you"))
    assert same.cached_tokens > N_IMAGE_TOKENS  # BOS, the image and "hello"
    assert other.cached_tokens < N_IMAGE_TOKENS  # only what comes before the image


async def test_images_in_parallel_sequences(
    start: StartRunner, tiny_model: Path, projector: Path
) -> None:
    import anyio

    runner = await start(tiny_model, projector_path=projector, num_parallel=2)
    alone = [await complete(runner, request(image(seed))) for seed in (3, 4)]
    together: list[tuple[str, object]] = [("", None), ("", None)]

    async def run(index: int, seed: int) -> None:
        together[index] = await complete(runner, request(image(seed)))

    async with anyio.create_task_group() as group:
        group.start_soon(run, 0, 3)
        group.start_soon(run, 1, 4)
    assert [text for text, _ in together] == [text for text, _ in alone]


async def test_a_model_without_a_projector_refuses_images(
    start: StartRunner, tiny_model: Path
) -> None:
    runner = await start(tiny_model)
    with pytest.raises(InvalidRequestError, match="no vision projector"):
        await complete(runner, request(image(1)))
    _, after = await complete(runner, GenerateRequest(prompt="hello", num_predict=2))
    assert after.done


async def test_markers_must_match_the_images(
    start: StartRunner, tiny_model: Path, projector: Path
) -> None:
    runner = await start(tiny_model, projector_path=projector)
    bad = GenerateRequest(prompt=f"{IMAGE_MARKER}{IMAGE_MARKER} hi", images=(image(1),))
    with pytest.raises(InvalidRequestError, match="2 image places"):
        await complete(runner, bad)
    ends_with_image = GenerateRequest(prompt=f"hi {IMAGE_MARKER}", images=(image(1),))
    with pytest.raises(InvalidRequestError, match="go on after its last image"):
        await complete(runner, ends_with_image)


async def test_a_context_with_an_images_placeholders_is_refused(
    start: StartRunner, tiny_model: Path, projector: Path
) -> None:
    runner = await start(tiny_model, projector_path=projector)
    _, first = await complete(runner, request(image(1), return_tokens=True))
    assert first.tokens is not None and min(first.tokens) < 0  # the image's placeholders
    for images in ((), (image(2),)):
        again = GenerateRequest(
            prompt=f"{IMAGE_MARKER}\nmore" if images else "more",
            images=images,
            context=first.tokens,
            num_predict=1,
        )
        with pytest.raises(InvalidRequestError, match="outside the vocabulary"):
            await complete(runner, again)
    _, after = await complete(runner, request(image(3)))
    assert after.done
