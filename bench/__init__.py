"""ladle's benchmarks; ``python -m bench`` runs them and records results under bench/results."""
