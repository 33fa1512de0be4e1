"""Nothing of Ray is imported unless ``--cluster`` asks for it: ``ladle --help`` and
``ladle serve`` start as fast as without the extra."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
CHECK = """
import sys
import ladle.cli.app, ladle.cli.serve, runtime.api.app, runtime.cluster.command
from ladle.cli.app import main
sys.argv = ["ladle", "serve", "--help"]
try:
    main()
except SystemExit:
    pass
loaded = sorted(name for name in sys.modules if name == "ray" or name.startswith("ray."))
print("RAY:", loaded, file=sys.stderr)
"""


def test_the_cli_and_the_api_do_not_import_ray() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "--cluster" in done.stdout
    assert "RAY: []" in done.stderr, done.stderr
