"""Authentication backends: bearer JWT (+ JWKS), signed session cookies, server-side sessions,
API keys and custom ones, behind the :class:`~routeguard.backends.base.Backend` protocol."""
