"""The runtime around the core: effects, the guard, audit, sign-in and its caches."""
