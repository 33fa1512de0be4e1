"""ladle's benchmarks; ``python -m bench`` runs them and records results under bench/results."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
"""The checkout the benchmarks run from."""
