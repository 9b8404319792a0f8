"""Benchmarks of changeguard against baselines measured in the same run (issue #5, item 5)."""
