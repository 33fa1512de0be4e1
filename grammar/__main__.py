"""``python -m grammar``: rewrite ``modelfile.tables`` after editing ``modelfile.lark``."""

from pathlib import Path

from modelfile.tables import write

print(f"wrote {write(Path(__file__).parent)}")
