"""Benchmarks against DCMTK: `python -m benchmarks.run` (see docs/benchmarks.md)."""
