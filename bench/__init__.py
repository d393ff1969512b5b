"""Benchmarks: `python -m bench` runs them against the loopback Bot API."""
