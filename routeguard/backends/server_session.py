"""Server-side sessions: the cookie holds only an opaque random id, the data lives in a store.

Defends against session fixation (a new id at every login, the old one destroyed), theft of a
store dump (the store keys are SHA-256 digests of the ids, never the ids), cookie theft over
plain HTTP and cross-site use (``HttpOnly``, ``Secure``, ``SameSite=Lax``), and sessions that
never end (idle and absolute timeouts, both enforced on every request). Logout deletes the
session, so it ends on every worker and host that shares the store.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any, Final, Literal

from ..core.claims import claim_strings
from ..core.identity import Identity
from ..core.request import RequestView
from ..errors import AuthenticationError, PolicyError
from ..runtime.effects import Effect
from ..stores.base import Store
from .base import COOKIE_HEADERS, UNSURE, Credential, QuickResult, request_cookie

_ID: Final = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


def session_key(session_id: str) -> str:
    """The store key of a session id (a digest: the store never holds a usable id)."""
    return "session:" + hashlib.sha256(session_id.encode()).hexdigest()


class ServerSessionBackend:
    """Sessions kept in a :class:`~routeguard.stores.base.Store`, found by an opaque cookie.

    ``ServerSessionBackend(store, idle_timeout=1800, max_age=43200)``; create sessions with
    ``routeguard.login`` / ``routeguard.alogin`` and end them with ``logout`` / ``alogout``.
    """

    name = "session"

    def __init__(
        self,
        store: Store,
        *,
        cookie: str = "session",
        idle_timeout: float = 1800,
        max_age: float = 12 * 3600,
        secure: bool = True,
        same_site: Literal["lax", "strict"] = "lax",
        touch_interval: float = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if idle_timeout <= 0 or max_age <= 0:
            raise PolicyError("auth.session: idle_timeout and max_age must be positive")
        self.store = store
        self.cookie = cookie
        self.idle_timeout = idle_timeout
        self.max_age = max_age
        self.secure = secure
        self.same_site = same_site
        self.touch_interval = min(touch_interval, idle_timeout / 4)
        self._clock = clock

    credential_headers: Final = COOKIE_HEADERS

    def quick(self, headers: Mapping[str, str]) -> QuickResult:
        """None without the session cookie; UNSURE with it (only the store can tell)."""
        raw = headers.get("cookie")
        return UNSURE if raw and self.cookie in raw else None

    def authenticate(self, request: RequestView) -> Generator[Effect, Any, Credential] | None:
        """None without a session cookie; otherwise a flow that loads the session."""
        session_id = request_cookie(request, self.cookie)
        if session_id is None:
            return None
        if not _ID.fullmatch(session_id):
            raise AuthenticationError("malformed session id")
        return self._load(session_key(session_id))

    def _load(self, key: str) -> Generator[Effect, Any, Credential]:
        raw = yield self.store.get_effect(key)
        if raw is None:
            # An ended (logged-out, expired) session looks like this; a well-formed random id
            # cannot be guessed, so this is an honest failure, not a guess.
            raise AuthenticationError("session ended or unknown", genuine=True)
        try:
            data = json.loads(raw)
            subject, created, seen = str(data["sub"]), float(data["created"]), float(data["seen"])
        except (ValueError, KeyError, TypeError):
            raise AuthenticationError("malformed session") from None
        now = self._clock()
        expires = created + self.max_age
        if now >= expires or now - seen >= self.idle_timeout:
            raise AuthenticationError("session expired", genuine=True)
        if now - seen >= self.touch_interval:  # slide the idle window, not on every request
            data["seen"] = now
            yield self.store.set_effect(key, json.dumps(data).encode(), self._ttl(created, now))
        identity = Identity(
            subject=subject,
            roles=claim_strings(data.get("roles"), "roles"),
            permissions=claim_strings(data.get("permissions"), "permissions"),
            tenants=claim_strings(data.get("tenants"), "tenants"),
            backend=self.name,
        )
        return Credential(identity, expires_at=expires, session_key=key)

    def _ttl(self, created: float, now: float) -> float:
        return min(self.idle_timeout, created + self.max_age - now)

    def create(
        self,
        subject: str,
        roles: Iterable[str] = (),
        permissions: Iterable[str] = (),
        tenants: Iterable[str] = (),
        replaces: str | None = None,
    ) -> Generator[Effect, Any, str]:
        """Start a session (destroying the one whose key is ``replaces``); returns the new id."""
        if replaces is not None:
            yield self.store.delete_effect(replaces)
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        data = {"sub": str(subject), "roles": sorted(roles), "permissions": sorted(permissions),
                "tenants": sorted(tenants), "created": now, "seen": now}
        yield self.store.set_effect(session_key(session_id), json.dumps(data).encode(), self._ttl(now, now))
        return session_id

    def set_cookie(self, session_id: str, path: str = "/") -> str:
        """The ``Set-Cookie`` value that hands ``session_id`` to the browser."""
        return self._cookie(session_id, path, f"Max-Age={int(self.max_age)}")

    def clear_cookie(self, path: str = "/") -> str:
        """The ``Set-Cookie`` value that removes the session cookie."""
        return self._cookie("", path, "Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT")

    def _cookie(self, value: str, path: str, lifetime: str) -> str:
        flags = f"; Path={path or '/'}; {lifetime}; HttpOnly; SameSite={self.same_site.capitalize()}"
        return f"{self.cookie}={value}{flags}{'; Secure' if self.secure else ''}"
