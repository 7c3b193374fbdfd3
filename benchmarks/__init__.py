"""Benchmarks: `make bench` (python -m benchmarks). Figures are ratios against baselines
measured in the same run, never absolute targets."""
