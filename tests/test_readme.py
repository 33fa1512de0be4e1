"""Every ``console`` example in README.md runs, with the output the README shows.

An example is a ``$ command`` line followed by its expected output (stdout and stderr
together) up to the next ``$`` line or the end of the block; ``...`` in the output stands
for any text. The examples run in order, in the repository root, with a fresh model
store, so a later example can use what an earlier one created.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.fixtures.installed import missing, require_bundled_model

ROOT = Path(__file__).parent.parent
BLOCK = re.compile(r"```console\n(.*?)```", re.DOTALL)


def _examples(markdown: str) -> list[tuple[str, str]]:
    examples: list[tuple[str, str]] = []
    for block in BLOCK.findall(markdown):
        for chunk in re.split(r"^\$ ", block, flags=re.MULTILINE)[1:]:
            command, _, output = chunk.partition("\n")
            examples.append((command, output))
    return examples


EXAMPLES = _examples((ROOT / "README.md").read_text(encoding="utf-8"))


def test_readme_has_examples() -> None:
    assert len(EXAMPLES) >= 3


def _pattern(expected: str) -> re.Pattern[str]:
    return re.compile(".*?".join(re.escape(part) for part in expected.split("...")), re.DOTALL)


def test_readme_examples(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "ladle").exists():
        missing("the ladle console script", "pip install -e '.[test,models]'")
    require_bundled_model("smollm2:135m")  # the examples build FROM smollm2:135m
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "LADLE_MODELS": str(tmp_path / "models"),
    }
    for command, expected in EXAMPLES:
        result = subprocess.run(
            ["bash", "-c", f"{{ {command}\n}} 2>&1"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert _pattern(expected).fullmatch(result.stdout), (command, result.stdout)
