"""Litestar: the guard in front of Litestar's router, its cookie sessions as a credential.

    app = Litestar(route_handlers=[...], middleware=[session_config.middleware])
    guard(app, policy)            # wraps app.asgi_handler: every request is judged before routing

On an allowed request ``request.user`` is the guard's :class:`Identity` (None when anonymous on a
public route) and ``request.auth`` the verified :class:`Credential` (None likewise), as
Litestar's own authentication middleware would set them; ``request.scope["routeguard.identity"]``
too. The Litestar instance stays the app the server runs, so its lifespan, ``TestClient`` and
``app.debug`` work unchanged.

``[auth.session] format = "litestar"`` reads Litestar's client-side sessions
(``CookieBackendConfig``: AES-GCM encrypted, split over ``session``, ``session-0``, ...), using
Litestar's own ``ClientSideSessionBackend`` to decrypt them. ``secret_env`` names the variable
holding the app's ``secret`` as text (16, 24 or 32 bytes in UTF-8: the app passes
``os.environ[...].encode()``); ``cookie`` is its ``key``, ``max_age`` its ``max_age``. A session
cookie that does not decrypt, or has expired, is an invalid credential (401).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any, Final

from ..asgi import ASGIApp, ASGIGuard, Receive, Scope, Send
from ..backends.base import Credential
from ..core.claims import ClaimMap
from ..core.decision import Decision
from ..core.request import RequestView
from ..errors import AuthenticationError, PolicyError
from ..policy.auth import SessionConfig
from ..policy.build import session_secrets
from ..policy.model import Policy
from ..stores import Store

__all__ = ["LitestarSessionBackend", "guard", "session_backend"]

#: Litestar's default ``CookieBackendConfig.max_age`` (14 days).
DEFAULT_MAX_AGE: Final = 14 * 24 * 3600
#: At most this many ``<key>-<n>`` chunks are read (Litestar writes 3 KiB per chunk).
MAX_CHUNKS: Final = 32


class LitestarSessionBackend:
    """``[auth.session] format = "litestar"``: the user in Litestar's encrypted cookie session."""

    name = "session"
    cookie_based = True  # CSRF origin checks apply, as for every cookie credential

    def __init__(
        self,
        *,
        secrets: Sequence[str | bytes],
        cookie: str = "session",
        max_age: int | None = None,
        user_key: str = "user_id",
        roles_key: str = "roles",
        permissions_key: str = "permissions",
        tenants_key: str = "tenants",
    ) -> None:
        from litestar.middleware.session.client_side import ClientSideSessionBackend, CookieBackendConfig

        if not secrets:
            raise PolicyError("auth.session: format = 'litestar' needs secret_env (the app's session secret)")
        self.cookie = cookie
        self.max_age = DEFAULT_MAX_AGE if max_age is None else max_age
        self.claim_map = ClaimMap(user_key, roles_key, permissions_key, tenants_key)
        try:  # the current secret first, older ones after it: any of them may have written the cookie
            self._backends = [
                ClientSideSessionBackend(CookieBackendConfig(secret=s if isinstance(s, bytes) else s.encode(),
                                                             key=cookie, max_age=self.max_age))
                for s in secrets
            ]
        except ValueError as exc:  # AES-GCM wants a 16, 24 or 32 byte key
            raise PolicyError(f"auth.session: not a Litestar session secret ({exc})") from None

    def _chunks(self, request: RequestView) -> list[bytes]:
        """The session cookie's parts, in the order Litestar's ``get_cookie_keys`` joins them."""
        single = request.cookie(self.cookie)
        found: dict[str, str] = {} if single is None else {self.cookie: single}
        for n in range(MAX_CHUNKS):
            name = f"{self.cookie}-{n}"
            value = request.cookie(name)
            if value is None:
                break
            found[name] = value
        parts = [found[name] for name in sorted(found) if found[name] != "null"]  # "null": being cleared
        return [part.encode("utf-8", "surrogateescape") for part in parts]

    def authenticate(self, request: RequestView) -> Credential | None:
        """The session's user, None without a session cookie or without a user in it."""
        chunks = self._chunks(request)
        if not chunks:
            return None
        session = self._load(chunks)
        subject = self.claim_map.subject_of(session, integers=True)
        if subject is None:
            return None
        identity = self.claim_map.identity(subject, session, self.name)
        digest = hashlib.sha256(b"".join(chunks)).hexdigest()
        return Credential(identity, revocation_key=f"litestar:{digest}", expires_at=time.time() + self.max_age)

    def _load(self, chunks: list[bytes]) -> dict[str, Any]:
        for backend in self._backends:
            try:
                session = backend.load_data(chunks)
            except Exception:  # noqa: S112 - not this key (InvalidTag), or not a session at all
                continue
            if not session:  # decrypted with this key, but expired (Litestar reads it as empty)
                raise AuthenticationError("session expired")
            if not isinstance(session, dict):
                raise AuthenticationError("malformed session")
            return session
        raise AuthenticationError("bad session")


def session_backend(config: SessionConfig, store: Store) -> LitestarSessionBackend:
    """Build ``[auth.session] format = "litestar"`` (the format registry's factory)."""
    try:
        import litestar  # noqa: F401
    except ImportError:
        raise PolicyError("auth.session: format = 'litestar' needs Litestar (pip install 'routeguard[litestar]')") \
            from None
    return LitestarSessionBackend(secrets=session_secrets(config), cookie=config.cookie, max_age=config.max_age,
                                  user_key=config.user_key, roles_key=config.roles_key,
                                  permissions_key=config.permissions_key, tenants_key=config.tenants_key)


class _LitestarUser:
    """Just inside the guard: ``scope["user"]``/``scope["auth"]`` the way Litestar reads them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        decision = scope.get("routeguard.decision")
        if isinstance(decision, Decision):
            scope["user"] = decision.identity
            scope["auth"] = decision.credential if decision.identity is not None else None
        await self.app(scope, receive, send)


def guard(app: Any, policy: Policy) -> Any:
    """Put the guard in front of a Litestar app's router (``app.asgi_handler``); returns ``app``."""
    if isinstance(app.asgi_handler, ASGIGuard):
        raise PolicyError("this Litestar app is already guarded")
    app.asgi_handler = ASGIGuard(_LitestarUser(app.asgi_handler), policy=policy)
    return app
