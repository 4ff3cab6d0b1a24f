"""Tiny apps of every framework `routeguard routes`/`init` reads, for the migration tests."""
