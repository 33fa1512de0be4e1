"""Pure parts of the engine: prompt truncation."""

from __future__ import annotations

from runtime.runner.shift import truncated


def test_truncation_keeps_num_keep_and_the_newest_tokens() -> None:
    tokens = list(range(100))
    kept = truncated(tokens, n_ctx=40, num_keep=4, num_predict=10)
    assert kept[:4] == [0, 1, 2, 3]
    assert kept[-1] == 99
    assert len(kept) == 30  # room left for the 10 tokens to generate
    assert kept[4:] == list(range(74, 100))


def test_truncation_leaves_room_to_generate_without_num_predict() -> None:
    kept = truncated(list(range(1000)), n_ctx=100, num_keep=0, num_predict=-1)
    assert kept == list(range(925, 1000))
