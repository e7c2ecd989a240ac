"""Benchmarks: one script per workload, each printing its figures and, for HTTP,
the ratio to a ceiling measured in the same run. Run them all with ``make bench``."""
