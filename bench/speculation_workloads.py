"""The speculative decoding benchmark's three workloads, as prompts in SmolLM2's chat
format (ChatML), the same text sent to ladle and to llama-server.

- ``rewrite``: "rewrite this 300-line file with one change" (code editing: the output
  mostly copies the input). The assistant's turn starts with the code fence, as editors
  that ask for a whole file prefill it, so that even a 135M model starts copying.
- ``summary``: a summary of a given text (the output reuses the text's phrases).
- ``chat``: free chat, nothing to copy: where speculation must not cost.
"""

from __future__ import annotations

from dataclasses import dataclass

FULL_LINES, QUICK_LINES = 300, 60
"""Lines of the file the rewrite workload edits (full run, quick run)."""


@dataclass(frozen=True)
class Workload:
    """A prompt and how many tokens to generate after it."""

    key: str
    label: str
    prompt: str
    n_predict: int


def _turn(user: str, prefill: str = "") -> str:
    return f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n{prefill}"


def source_file(lines: int) -> str:
    """A deterministic Python file of ``lines`` lines: small functions over a table."""
    out: list[str] = ['"""Inventory helpers."""', ""]
    item = 0
    while len(out) < lines:
        out += [
            f"def price_of_item_{item}(table, count):",
            f'    """The price of {count_word(item)} units of item {item}."""',
            f"    unit = table.get('item_{item}', {item % 9 + 1}.5)",
            f"    return round(unit * count * {1 + item % 4}, 2)",
            "",
        ]
        item += 1
    return "\n".join(out[:lines]) + "\n"


def count_word(n: int) -> str:
    return ("zero", "one", "two", "three", "four", "five", "six", "seven")[n % 8]


SUMMARY_TEXT = (
    "The harbour town of Elling grew up around a fishing fleet that once numbered two "
    "hundred boats. In the last thirty years the fleet shrank to forty boats, as fish "
    "stocks fell and the young moved to the cities. The town council responded by "
    "turning the old net sheds into workshops for boat builders and artists, and by "
    "opening a ferry line to the islands. Tourism now brings more money to Elling than "
    "fishing does, but the council has kept the harbour for the remaining fishermen, and "
    "the fish market still opens every morning at five. Some residents complain that "
    "summer visitors crowd the narrow streets and push up rents; others say that without "
    "them the town would have emptied. The council plans a second ferry and a school "
    "for boat building, paid for by a tax on holiday rentals. "
)


def workloads(quick: bool) -> list[Workload]:
    """The three workloads; a quick run edits a shorter file and generates less."""
    lines = QUICK_LINES if quick else FULL_LINES
    n_predict = 96 if quick else 256
    code = source_file(lines)
    rewrite = _turn(
        "Rewrite this file with one change: rename the parameter `count` to `quantity` "
        f"everywhere. Output the whole file.\n\n```python\n{code}```",
        prefill='```python\n"""Inventory helpers."""\n\n',
    )
    summary = _turn(f"Summarize this text in a few sentences:\n\n{SUMMARY_TEXT * 2}")
    chat = _turn("Tell me a story about a dragon who learns to bake bread.")
    return [
        Workload("rewrite", f"(a) rewrite a {lines}-line file", rewrite, n_predict),
        Workload("summary", "(b) summary", summary, n_predict),
        Workload("chat", "(c) free chat", chat, n_predict),
    ]
