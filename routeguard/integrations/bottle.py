"""Bottle: the guard around the app, the identity in ``bottle.request.environ``.

    app = bottle.Bottle()
    application = guard(app, policy)                        # serve this one
    ...
    @app.get("/api/me")
    def me():
        who = current_identity()                            # request.environ["routeguard.identity"]

Bottle's own signed cookies (``set_cookie(..., secret=...)``) hold pickled data and are not a
credential routeguard reads: log in with ``routeguard.login`` (server-side sessions) or bearer
tokens, or write a custom backend for your own cookie.
"""

from __future__ import annotations

from ..core.identity import Identity
from ..policy.model import Policy
from ..wsgi import WSGIApp, WSGIGuard

__all__ = ["current_identity", "guard"]


def current_identity() -> Identity | None:
    """The guard's identity for the current Bottle request, or None (anonymous, public route)."""
    from bottle import request

    identity = request.environ.get("routeguard.identity")
    return identity if isinstance(identity, Identity) else None


def guard(app: WSGIApp, policy: Policy) -> WSGIGuard:
    """``application = guard(app, policy)``: the WSGI app to serve (the guard outside Bottle)."""
    return WSGIGuard(app, policy=policy)
