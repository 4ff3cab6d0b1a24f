"""Pyramid: the guard around the WSGI app, its identity as Pyramid's security policy.

    config.include("routeguard.integrations.pyramid")      # request.identity is the guard's
    app = guard(config.make_wsgi_app(), policy)             # every request judged first

``request.identity`` is the guard's :class:`Identity` (None when anonymous on a public route),
``request.authenticated_userid`` its subject, and ``request.has_permission(name)`` is true when
the identity holds permission ``name`` (or ``view_config(permission=...)``); anything else, and
any anonymous request, is denied. Pyramid's ``remember``/``forget`` return no headers: the
app's own login sets its session (``routeguard.login`` for server-side sessions, say).
"""

from __future__ import annotations

from typing import Any

from ..core.identity import Identity
from ..policy.model import Policy
from ..wsgi import WSGIApp, WSGIGuard

__all__ = ["RouteGuardSecurityPolicy", "guard", "includeme"]


class RouteGuardSecurityPolicy:
    """Pyramid 2 security policy reading the identity the guard established."""

    def identity(self, request: Any) -> Identity | None:
        """The guard's identity for this request, or None."""
        identity = request.environ.get("routeguard.identity")
        return identity if isinstance(identity, Identity) else None

    def authenticated_userid(self, request: Any) -> str | None:
        """The identity's subject."""
        identity = self.identity(request)
        return identity.subject if identity is not None else None

    def permits(self, request: Any, context: Any, permission: str) -> Any:
        """Allowed when the identity holds ``permission``; denied otherwise (and when anonymous)."""
        from pyramid.security import Allowed, Denied

        identity = self.identity(request)
        if identity is not None and permission in identity.permissions:
            return Allowed(f"routeguard: {identity.subject} holds {permission!r}")
        return Denied(f"routeguard: permission {permission!r} not held")

    def remember(self, request: Any, userid: Any, **kw: Any) -> list[tuple[str, str]]:
        """No headers: the app's own login writes its session."""
        return []

    def forget(self, request: Any, **kw: Any) -> list[tuple[str, str]]:
        """No headers: the app's own logout clears its session."""
        return []


def includeme(config: Any) -> None:
    """``config.include("routeguard.integrations.pyramid")``: install the security policy."""
    config.set_security_policy(RouteGuardSecurityPolicy())


def guard(app: WSGIApp, policy: Policy) -> WSGIGuard:
    """``guard(config.make_wsgi_app(), policy)``: the guard outside Pyramid's router."""
    return WSGIGuard(app, policy=policy)
