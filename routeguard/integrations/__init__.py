"""Framework glue: each module joins routeguard to one framework's login, identity and idioms.

Every module imports its framework lazily (install the extra: ``routeguard[django]``,
``routeguard[flask]``, ``routeguard[fastapi]``, ...); nothing here is imported by the core.
"""
