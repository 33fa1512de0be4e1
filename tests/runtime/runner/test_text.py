"""TextStream: UTF-8 split across tokens, stop strings split across tokens."""

from __future__ import annotations

from runtime.runner.text import TextStream


def feed_all(stream: TextStream, pieces: list[bytes]) -> str:
    return "".join(stream.feed(piece) for piece in pieces) + stream.flush()


def test_a_character_split_across_tokens_comes_out_whole() -> None:
    stream = TextStream()
    data = "é€".encode()
    assert stream.feed(data[:1]) == ""
    assert stream.feed(data[1:3]) == "é"
    assert stream.feed(data[3:]) == "€"


def test_a_stop_string_split_across_tokens_is_never_shown() -> None:
    stream = TextStream(["<|end|>"])
    shown = [stream.feed(piece) for piece in [b"Hi <|", b"en", b"d|> more"]]
    assert shown == ["Hi ", "", ""]
    assert stream.stopped
    assert stream.flush() == ""


def test_a_false_start_of_a_stop_string_is_released() -> None:
    stream = TextStream(["STOP"])
    assert stream.feed(b"a ST") == "a "
    assert stream.feed(b"AR") == "STAR"
    assert not stream.stopped


def test_the_earliest_of_several_stop_strings_wins() -> None:
    stream = TextStream(["b", "ab"])
    assert stream.feed(b"xxab") == "xx"
    assert stream.stopped


def test_held_text_is_flushed_at_the_end() -> None:
    assert feed_all(TextStream(["ZZZ"]), [b"abc Z", b"Z"]) == "abc ZZ"
