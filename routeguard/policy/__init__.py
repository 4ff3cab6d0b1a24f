"""The policy: its model, its settings and their TOML loading."""
