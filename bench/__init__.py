"""Benchmarks: `python -m bench` (`make bench`) measures the app as ratios against bare baselines in one run."""
