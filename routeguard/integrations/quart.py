"""Quart: ``RouteGuard(app)``, the identity in ``quart.g.routeguard_identity``.

    app.config["ROUTEGUARD_POLICY"] = "routeguard.toml"      # a path or a Policy
    RouteGuard(app)                                            # or RouteGuard().init_app(app)

The guard wraps ``app.asgi_app`` (Quart's test client goes through it too); allowed requests
carry the identity in ``g.routeguard_identity`` and ``request.scope["routeguard.identity"]``.
Quart's session cookie is Flask's format (same signer, salt and serializer), so
``[auth.session] format = "flask"`` reads it; ``format = "flask-login"`` (Flask-Login's keys,
e.g. written by a port of a Flask app) takes the app's ``secret_key`` when wired through
``RouteGuard(app)``. Quart has no ``login_view``: the policy names its ``login_url``.
"""

from __future__ import annotations

import asyncio
from os import PathLike
from typing import Any

from ..asgi import ASGIApp, ASGIGuard, Receive, Scope, Send
from ..errors import PolicyError
from ..policy.build import runtime_for
from ..policy.model import Policy
from .flask import bind_backends, load_policy

__all__ = ["RouteGuard"]


class _LazyGuard:
    """``app.asgi_app``: the guard, built at the first request with the app's final settings."""

    def __init__(self, app: Any, asgi_app: ASGIApp, policy: Policy) -> None:
        self.app = app
        self.asgi_app = asgi_app
        self.policy = policy
        self.guard: ASGIGuard | None = None
        self._lock = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        guard = self.guard
        if guard is None:
            if scope["type"] not in ("http", "websocket"):
                await self.asgi_app(scope, receive, send)
                return
            async with self._lock:
                if self.guard is None:
                    bind_backends(runtime_for(self.policy).backends, self.app)
                    self.guard = ASGIGuard(self.asgi_app, policy=self.policy)
                guard = self.guard
        await guard(scope, receive, send)


class RouteGuard:
    """The Quart extension: ``RouteGuard(app)`` or ``RouteGuard().init_app(app)``."""

    def __init__(self, app: Any = None, *, policy: Policy | str | PathLike[str] | None = None) -> None:
        self.policy = policy
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Any) -> None:
        """Wrap ``app.asgi_app`` and put each allowed request's identity in ``g``."""
        source = self.policy if self.policy is not None else app.config.get("ROUTEGUARD_POLICY")
        if source is None:
            raise PolicyError("app.config['ROUTEGUARD_POLICY'] is not set (a Policy or a TOML file path)")
        app.asgi_app = _LazyGuard(app, app.asgi_app, load_policy(source, "ROUTEGUARD_POLICY"))
        app.extensions["routeguard"] = self
        app.before_request_funcs.setdefault(None, []).insert(0, _hand_over)
        app.before_websocket_funcs.setdefault(None, []).insert(0, _hand_over_websocket)


async def _hand_over() -> None:
    from quart import g, request

    g.routeguard_identity = request.scope.get("routeguard.identity")


async def _hand_over_websocket() -> None:
    from quart import g, websocket

    g.routeguard_identity = websocket.scope.get("routeguard.identity")
