"""Images in a prompt (issue 21): what one 512x512 image costs on the tiny projector.

In one process, over the tiny test model and the tiny LLaVA-style projector the tests
write (:mod:`tests.fixtures.tiny_projector`: 56x56 input, 16 image tokens, random
weights): the server's decode and check of the image (Pillow, PNG and JPEG), mtmd's
preprocessing (resize and normalise, in ``mtmd_tokenize``), the projector's encode
(``mtmd_encode_chunk``), and the time to the first token of a one-image prompt next to
the same prompt without the image, through the runner's engine (its admission evaluates
the image). Each figure is the median of its runs, with the fastest and slowest; every
run has a new image (or new text) so that no cached prefix is reused.
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

IMAGE_SIDE = 512
THREADS = 1
"""One thread: the figures are meant to compare, on a shared 2-core machine."""


def _stats(samples: list[float]) -> dict[str, float]:
    return {"median_s": statistics.median(samples), "min_s": min(samples), "max_s": max(samples)}


def _timed(action: Callable[[int], object], runs: int) -> dict[str, float]:
    samples = []
    for index in range(runs):
        started = time.perf_counter()
        action(index)
        samples.append(time.perf_counter() - started)
    return _stats(samples)


def _encoded(seed: int, format: str) -> bytes:
    from PIL import Image

    from tests.fixtures.tiny_projector import random_rgb

    image = Image.frombytes(
        "RGB", (IMAGE_SIDE, IMAGE_SIDE), random_rgb(IMAGE_SIDE, IMAGE_SIDE, seed)
    )
    out = io.BytesIO()
    image.save(out, format=format)
    return out.getvalue()


def _decode_figures(runs: int) -> dict[str, Any]:
    from runtime.api.vision import decode_image

    def timed(data: list[bytes]) -> dict[str, Any]:
        figure: dict[str, Any] = _timed(lambda i: decode_image(data[i], "images"), runs)
        return figure | {"bytes": len(data[0])}

    return {
        format.lower(): timed([_encoded(seed, format) for seed in range(runs)])
        for format in ("PNG", "JPEG")
    }


def _image(seed: int) -> Any:
    from runtime.protocol import ImageInput
    from tests.fixtures.tiny_projector import random_rgb

    rgb = random_rgb(IMAGE_SIDE, IMAGE_SIDE, seed)
    digest = "sha256:" + hashlib.sha256(rgb).hexdigest()
    return ImageInput(width=IMAGE_SIDE, height=IMAGE_SIDE, rgb=rgb, digest=digest)


def _first_token(engine: Any, request: Any) -> float:
    """Seconds from submitting ``request`` to the engine's first chunk of it."""
    from runtime.runner.messages import ChunkGenerated

    started = time.perf_counter()
    engine.submit(1, request)
    while True:
        events = engine.step()
        if any(isinstance(event, ChunkGenerated) for event in events):
            return time.perf_counter() - started


def _runner_figures(folder: Path, runs: int) -> dict[str, Any]:
    import llama_cpp.mtmd_cpp as mtmd

    from runtime.protocol import IMAGE_MARKER, GenerateRequest, LoadSpec, SamplingOptions
    from runtime.runner.engine import Engine
    from runtime.runner.multimodal import Projector
    from runtime.runner.native import LlamaLog, LlamaModel
    from tests.fixtures.tiny_gguf import write_tiny_llama
    from tests.fixtures.tiny_projector import write_tiny_projector

    model_path = write_tiny_llama(folder / "tiny.gguf", n_ctx=512)
    projector_path = write_tiny_projector(folder / "mmproj.gguf")
    spec = LoadSpec(model_path=model_path, n_ctx=256, n_threads=THREADS, num_parallel=1)
    log = LlamaLog()
    model = LlamaModel(spec, log)
    projector = Projector(projector_path, model, log)
    engine = Engine(model, None, projector)
    greedy = SamplingOptions(temperature=0.0)
    try:
        prompts = [projector.prompt(f"{IMAGE_MARKER}\nhello", [_image(i)], []) for i in range(runs)]
        chunk = [p.spans[0].chunk for p in prompts]
        encode = _timed(
            lambda i: mtmd.mtmd_encode_chunk(projector.ctx, ctypes.c_void_p(chunk[i])), runs
        )
        preprocess = _timed(
            lambda i: projector.prompt(f"{IMAGE_MARKER}\nhi", [_image(100 + i)], []), runs
        )

        def with_image(i: int) -> float:
            text = f"{IMAGE_MARKER}\nhello {i}"
            request = GenerateRequest(
                prompt=text, images=(_image(200 + i),), num_predict=1, sampling=greedy
            )
            return _first_token(engine, request)

        def without(i: int) -> float:
            request = GenerateRequest(prompt=f"w{i} hello {i}", num_predict=1, sampling=greedy)
            return _first_token(engine, request)

        return {
            "image_tokens": prompts[0].spans[0].end - prompts[0].spans[0].start,
            "preprocess": preprocess,
            "encode": encode,
            "ttft_with_image": _stats([with_image(i) for i in range(runs)]),
            "ttft_text_only": _stats([without(i) for i in range(runs)]),
        }
    finally:
        engine.close()
        projector.close()
        model.close()


def run(quick: bool = False) -> dict[str, Any]:
    """Decode, preprocess, encode and first-token times for one 512x512 image."""
    import os

    runs = 5 if quick else 15
    with tempfile.TemporaryDirectory() as folder:
        return {
            "image_side": IMAGE_SIDE,
            "runs": runs,
            "threads": THREADS,
            "load_average": os.getloadavg()[0],
            "decode": _decode_figures(runs),
            "runner": _runner_figures(Path(folder), runs),
        }


if __name__ == "__main__":
    import sys

    from bench.vision_report import main

    sys.exit(main(run))
