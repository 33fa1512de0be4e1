"""Speculative decoding on real text (SmolLM2): greedy output identical with n-gram lookup
and with a draft model, in this process and through a runner process; a draft whose
vocabulary differs is refused at load."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.protocol import GenerateRequest, LoadSpec, SamplingOptions
from runtime.runner.engine import Engine
from runtime.runner.native import LlamaModel
from tests.fixtures.tiny_gguf import write_tiny_llama

from .conftest import StartRunner, complete
from .test_speculation import process_log, run

GREEDY = SamplingOptions(temperature=0, repeat_penalty=1.0)  # what a draft proposes
CODE = "".join(f"def f{i}(x):\n    return x * {i} + {i % 7}\n\n" for i in range(12))
PROMPTS = [
    "<|im_start|>user\nRewrite this file, renaming f3 to g3:\n"
    f"{CODE}<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nSummarize: The cat sat on the mat. The dog sat on the log. "
    "Both were happy.<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nTell me about the sea.<|im_end|>\n<|im_start|>assistant\n",
]


def greedy(prompt: str, **fields: object) -> GenerateRequest:
    return GenerateRequest(
        prompt=prompt,
        sampling=GREEDY,
        num_predict=64,
        ignore_eos=True,
        return_tokens=True,
        **fields,
    )


# Flash attention off is what the benchmark runs (test_batch_invariance.py says why the
# batches then need ladle's build of llama.cpp); auto keeps batches of 5 and fewer than
# 512 cached tokens on the kernel that one token takes.
@pytest.fixture(scope="module", params=["auto", "off"])
def models(
    smollm2_module: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[LlamaModel, LlamaModel]]:
    log = process_log()
    spec = LoadSpec(
        model_path=smollm2_module,
        n_ctx=1024,
        n_threads=2,
        num_parallel=2,
        flash_attention=request.param,
    )
    model, draft = LlamaModel(spec, log), LlamaModel(spec, log)
    yield model, draft
    model.close()
    draft.close()


@pytest.fixture(scope="module")
def smollm2_module() -> Path:
    from tests.fixtures.installed import smollm2_gguf

    return smollm2_gguf()


def fresh(model: LlamaModel) -> None:
    for seq_id in range(model.spec.num_parallel):
        model.forget(seq_id)


def test_greedy_identity_with_ngram_and_a_draft(models: tuple[LlamaModel, LlamaModel]) -> None:
    model, draft = models
    fresh(model)
    plain = run(Engine(model), [greedy(prompt) for prompt in PROMPTS])
    fresh(model)
    ngram_engine = Engine(model)
    ngram_engine.speculator.fixed_k = 4  # proposals whatever this machine's costs
    ngram = run(ngram_engine, [greedy(prompt, spec_ngram=4) for prompt in PROMPTS])
    fresh(model)
    fresh(draft)
    drafted_engine = Engine(model, draft)
    drafted_engine.speculator.fixed_k = 4
    drafted = run(drafted_engine, [greedy(prompt) for prompt in PROMPTS])
    expected = [chunk.tokens for chunk in plain]
    assert [chunk.tokens for chunk in ngram] == expected
    assert [chunk.tokens for chunk in drafted] == expected
    assert ngram[0].draft_accepted_count > 0  # the rewrite copies some of its input
    proposed = sum(chunk.draft_count for chunk in drafted)
    assert proposed > 50
    # The model as its own draft: every confident proposal is what the model says.
    assert sum(chunk.draft_accepted_count for chunk in drafted) >= 0.95 * proposed


@pytest.mark.anyio
async def test_a_runner_speculates_by_request_and_loads_a_draft(
    start: StartRunner, smollm2: Path
) -> None:
    plain = await start(smollm2, n_ctx=1024)
    expected = [(await complete(plain, greedy(prompt)))[1].tokens for prompt in PROMPTS]
    drafted = await start(smollm2, n_ctx=1024, draft_path=smollm2)
    for prompt, tokens in zip(PROMPTS, expected, strict=True):
        _, final = await complete(drafted, greedy(prompt, spec_ngram=4))
        assert final.tokens == tokens
    assert final.draft_count >= final.draft_accepted_count


@pytest.mark.anyio
async def test_a_draft_of_another_vocabulary_is_refused(
    start: StartRunner, tiny_model: Path, tmp_path: Path
) -> None:
    from ladle.errors import RunnerError

    other = write_tiny_llama(tmp_path / "other.gguf", n_vocab=400)
    with pytest.raises(RunnerError, match="vocabulary"):
        await start(tiny_model, draft_path=other)
