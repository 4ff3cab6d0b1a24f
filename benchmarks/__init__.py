"""routeguard's benchmark suite: ``python benchmarks/run.py`` (see the README, "Performance")."""
