"""Tests of runtime.runner: the runner process and its client."""
