"""Every ``console`` example in README.md runs, with the output the README shows.

An example is a ``$ command`` line followed by its expected output (stdout and stderr
together) up to the next ``$`` line or the end of the block.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.parametrize(("command", "expected"), EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_readme_example(command: str, expected: str) -> None:
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "ladle").exists():
        pytest.skip("the ladle console script is not installed in this environment")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", "-c", f"{command} 2>&1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout == expected
