"""Pyramid: the guard around the WSGI app, its identity as Pyramid's security policy.

    config.include("routeguard.integrations.pyramid")      # request.identity is the guard's
    app = guard(config.make_wsgi_app(), policy)             # every request judged first

``request.identity`` is the guard's :class:`Identity` (None when anonymous on a public route),
``request.authenticated_userid`` its subject, and ``request.has_permission(name)`` is true when
the identity holds permission ``name`` (or ``view_config(permission=...)``); anything else, and
any anonymous request, is denied. Pyramid's ``remember``/``forget`` return no headers: the
app's own login sets its session (Pyramid's own session, or ``routeguard.login``).

``[auth.session] format = "pyramid"`` reads the cookie of Pyramid's ``SignedCookieSessionFactory``
(its default JSON serializer), verified by WebOb's own ``SignedSerializer``. ``secret_env`` names
the factory's ``secret``; ``salt`` and ``hashalg`` default to Pyramid's (``"pyramid.session."``,
``"sha512"``); ``cookie`` is its ``cookie_name``; ``max_age`` its ``timeout`` (default 1200 s),
counted from the session's last-accessed time as Pyramid counts it. A cookie that does not verify,
or has timed out, is an invalid credential (401). Logout revokes the cookie by its digest, and
every copy of that session (same user and creation time) Pyramid reissued before the logout; a
later login in the same browser, or the user's sessions elsewhere, are not affected.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from typing import Any, Final

from ..backends.base import Credential
from ..core.claims import ClaimMap
from ..core.identity import Identity
from ..core.request import RequestView
from ..errors import AuthenticationError, PolicyError
from ..policy.auth import SessionConfig
from ..policy.build import session_secrets
from ..policy.model import Policy
from ..stores import Store
from ..stores.base import NOT_BEFORE
from ..wsgi import WSGIApp, WSGIGuard

__all__ = ["PyramidSessionBackend", "RouteGuardSecurityPolicy", "guard", "includeme", "session_backend"]

#: Pyramid's ``SignedCookieSessionFactory`` defaults.
DEFAULT_TIMEOUT: Final = 1200
DEFAULT_SALT: Final = "pyramid.session."
DEFAULT_HASHALG: Final = "sha512"


class PyramidSessionBackend:
    """``[auth.session] format = "pyramid"``: the user in Pyramid's signed cookie session."""

    name = "session"
    cookie_based = True  # CSRF origin checks apply, as for every cookie credential

    def __init__(
        self,
        *,
        secrets: Sequence[str],
        cookie: str = "session",
        max_age: int | None = None,
        salt: str | None = None,
        hashalg: str | None = None,
        user_key: str = "user_id",
        roles_key: str = "roles",
        permissions_key: str = "permissions",
        tenants_key: str = "tenants",
    ) -> None:
        from pyramid.session import JSONSerializer
        from webob.cookies import SignedSerializer

        if not secrets:
            raise PolicyError("auth.session: format = 'pyramid' needs secret_env (the session factory's secret)")
        self.cookie = cookie
        self.timeout = DEFAULT_TIMEOUT if max_age is None else max_age
        self.claim_map = ClaimMap(user_key, roles_key, permissions_key, tenants_key)
        try:  # the current secret first, older ones after it: any of them may have signed the cookie
            self._serializers = [
                SignedSerializer(s, DEFAULT_SALT if salt is None else salt, hashalg or DEFAULT_HASHALG,
                                 serializer=JSONSerializer())
                for s in secrets
            ]
        except ValueError as exc:  # hashlib does not know hashalg
            raise PolicyError(f"auth.session: not a Pyramid session hashalg ({exc})") from None

    def authenticate(self, request: RequestView) -> Credential | None:
        """The session's user, None without a session cookie or without a user in it."""
        value = request.cookie(self.cookie)
        if value is None:
            return None
        accessed, created, session = self._load(value.encode("utf-8", "surrogateescape"))
        now = time.time()
        if now - accessed > self.timeout:  # Pyramid's own check: idle longer than its timeout
            raise AuthenticationError("session expired")
        subject = self.claim_map.subject_of(session, integers=True)
        if subject is None:
            return None
        identity = self.claim_map.identity(subject, session, self.name)
        digest = hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()
        lineage = hashlib.sha256(json.dumps([subject, repr(created)]).encode()).hexdigest()[:32]
        return Credential(identity, revocation_key=f"pyramid:{digest}", expires_at=accessed + self.timeout,
                          issued_at=accessed, logout_key=f"{NOT_BEFORE}pyramid:{lineage}")

    def _load(self, value: bytes) -> tuple[float, float, dict[str, Any]]:
        """Verify the signature (WebOb) and unpack Pyramid's ``(accessed, created, state)``."""
        for serializer in self._serializers:
            try:
                loaded = serializer.loads(value)
            except ValueError:  # not this secret, or not a signed value at all
                continue
            except Exception:  # a verified value that does not decode: refuse
                raise AuthenticationError("malformed session") from None
            try:
                accessed, created, session = loaded
                accessed, created = float(accessed), float(created)
            except (TypeError, ValueError):
                raise AuthenticationError("malformed session") from None
            if not isinstance(session, dict) or not math.isfinite(accessed) or not math.isfinite(created):
                raise AuthenticationError("malformed session")
            return accessed, created, session
        raise AuthenticationError("bad session")


def session_backend(config: SessionConfig, store: Store) -> PyramidSessionBackend:
    """Build ``[auth.session] format = "pyramid"`` (the format registry's factory)."""
    try:
        import pyramid  # noqa: F401
    except ImportError:
        raise PolicyError("auth.session: format = 'pyramid' needs Pyramid (pip install 'routeguard[pyramid]')") \
            from None
    return PyramidSessionBackend(secrets=session_secrets(config), cookie=config.cookie, max_age=config.max_age,
                                 salt=config.salt, hashalg=config.hashalg, user_key=config.user_key,
                                 roles_key=config.roles_key, permissions_key=config.permissions_key,
                                 tenants_key=config.tenants_key)


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
