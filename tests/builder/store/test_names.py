"""Model names: Ollama's parsing and defaults, part-by-part validation, display forms."""

from __future__ import annotations

import pytest

from builder.store.names import ModelName
from ladle.errors import InvalidNameError


@pytest.mark.parametrize(
    ("text", "full", "short"),
    [
        ("sre-bot", "registry.ollama.ai/library/sre-bot:latest", "sre-bot:latest"),
        ("smollm2:135m", "registry.ollama.ai/library/smollm2:135m", "smollm2:135m"),
        ("team/sre-bot:v1.2", "registry.ollama.ai/team/sre-bot:v1.2", "team/sre-bot:v1.2"),
        (
            "localhost:5000/team/sre-bot:1",
            "localhost:5000/team/sre-bot:1",
            "localhost:5000/team/sre-bot:1",
        ),
        ("https://example.com/a/b", "example.com/a/b:latest", "example.com/a/b:latest"),
        ("llama3.2:1b", "registry.ollama.ai/library/llama3.2:1b", "llama3.2:1b"),
        ("Mistral:Latest", "registry.ollama.ai/library/Mistral:Latest", "Mistral:Latest"),
    ],
)
def test_parse_and_display(text: str, full: str, short: str) -> None:
    name = ModelName.parse(text)
    assert name.full() == full
    assert name.display() == short == str(name)


def test_names_compare_case_insensitively_and_paths_are_lower_case() -> None:
    upper, lower = ModelName.parse("Sre-Bot:V1"), ModelName.parse("sre-bot:v1")
    assert upper.key() == lower.key()
    assert str(upper.relative_path()) == "registry.ollama.ai/library/sre-bot/v1"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("../x", "the namespace '..' may hold only"),
        ("/etc/passwd", "the host is empty"),
        ("a//b", "the namespace is empty"),
        ("sre-bot:", "the tag is empty"),
        (":tag", "the model is empty"),
        ("", "the model is empty"),
        ("a/b/c/d", "too many '/'"),
        ("x" * 81, "the model is 81 characters long; the limit is 80"),
        ("sre-bot:" + "t" * 81, "the tag is 81 characters long"),
        ("modèle", "the model 'modèle' may hold only"),
        ("sre bot", "the model 'sre bot' may hold only"),
        (".hidden", "must start with a letter, digit or '_'"),
        ("a..b", "the model 'a..b' may hold only"),
        ("ns.x/model", "the namespace 'ns.x' may hold only"),
        ("model:ta/g", "the namespace 'model:ta' may hold only"),
        ("host/ns/model:..", "the tag '..' may hold only"),
        ("smollm2:135m\n", "the tag '135m\\n' may hold only"),  # never stripped
        (" sre-bot", "the model ' sre-bot' may hold only"),
    ],
)
def test_invalid_names_are_refused_before_any_path_is_built(text: str, reason: str) -> None:
    with pytest.raises(InvalidNameError) as caught:
        ModelName.parse(text)
    assert reason in str(caught.value)
    assert repr(text) in str(caught.value)
