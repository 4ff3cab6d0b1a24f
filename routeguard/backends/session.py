"""Signed session cookies written by Starlette's ``SessionMiddleware`` or by Flask.

Reads the cookie with the app's own secret (and format), so an existing login flow keeps
working behind the guard. Defends against forged or tampered cookies (HMAC signature via
itsdangerous, key rotation through several secrets), replay of old cookies (``max_age`` on the
signed timestamp) and ambiguous duplicates (a cookie sent twice with different values).
A valid cookie with no user in it is not a credential: the request is anonymous.

A verified cookie is cached (keyed on the whole ``Cookie`` header, bounded in entries and
bytes) until its signing time plus ``max_age``, so a repeated cookie costs no signature check;
revocation and logout are still checked by the guard on every request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

import itsdangerous

from ..core.claims import ClaimMap
from ..core.request import RequestView
from ..errors import AuthenticationError, PolicyError
from ..stores.base import NOT_BEFORE
from .base import COOKIE_HEADERS, Credential, cookie_cache, cookie_quick, remember_cookie, request_cookie

SessionFormat = Literal["starlette", "flask"]

#: The frameworks' own default lifetimes, used when the policy sets no ``max_age``.
DEFAULT_MAX_AGE: Final = {"starlette": 14 * 24 * 3600, "flask": 31 * 24 * 3600}
_FLASK_TAGS: Final = frozenset((" t", " b", " m", " u", " d", " di"))


def _untag(value: Any) -> Any:
    """Undo Flask's tagged JSON (tuples, bytes, Markup, UUID, dates) into plain JSON values."""
    if isinstance(value, dict):
        if len(value) == 1:
            (tag, inner), = value.items()
            if tag in _FLASK_TAGS:
                if tag == " t":
                    return [_untag(v) for v in inner]
                if tag == " di":
                    return {k: _untag(v) for k, v in inner.items()}
                return inner  # bytes/markup/uuid/date: the tagged payload, as a string
        return {k: _untag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untag(v) for v in value]
    return value


class SessionCookieBackend:
    """Authenticates from the framework's signed session cookie.

    ``SessionCookieBackend(format="starlette", secrets=[key])``: ``secrets`` lists the current
    key first and older keys after it (any of them verifies; the app signs with the first).
    """

    name = "session"

    def __init__(
        self,
        *,
        format: SessionFormat,
        secrets: Sequence[str | bytes],
        cookie: str = "session",
        max_age: int | None = None,
        user_key: str = "user_id",
        roles_key: str = "roles",
        permissions_key: str = "permissions",
        tenants_key: str = "tenants",
        cache_size: int = 10_000,
        cache_bytes: int = 32 << 20,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secrets or any(not s for s in secrets):
            raise PolicyError("auth.session: a non-empty secret is required")
        if format not in DEFAULT_MAX_AGE:
            raise PolicyError(f"auth.session.format: {format!r} is not 'starlette' or 'flask'")
        self.format = format
        self.cookie = cookie
        self.max_age = DEFAULT_MAX_AGE[format] if max_age is None else max_age
        self.claim_map = ClaimMap(user_key, roles_key, permissions_key, tenants_key)
        self._clock = clock
        # Verified cookies by the whole Cookie header, until signing time + max_age: a repeated
        # cookie costs no HMAC, base64 or JSON work. Revocation and logout are still checked by
        # the guard on every request.
        self._cache = cookie_cache(cache_size, cache_bytes, clock)
        self.quick = cookie_quick(cookie, self._cache)  # the cached credential (see QuickResult)
        # itsdangerous takes the newest key last.
        keys = [s if isinstance(s, bytes) else s.encode() for s in reversed(secrets)]
        if format == "starlette":
            # Starlette signs with TimestampSigner(str(secret_key)): default salt and derivation.
            self._signer = itsdangerous.TimestampSigner(keys)
        else:
            self._serializer = itsdangerous.URLSafeTimedSerializer(
                keys,
                salt="cookie-session",
                serializer=json,
                signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha1},
            )

    credential_headers: Final = COOKIE_HEADERS

    def authenticate(self, request: RequestView) -> Credential | None:
        """The session's user as a credential, None when there is no user in a valid session."""
        value = request_cookie(request, self.cookie)
        if value is None:
            return None
        header = request.headers["cookie"]
        cached = self._cache.get(header, self._clock())
        if cached is not None:
            return cached[0]
        session, signed_at = self.load(value)
        credential = self._credential(session, value, signed_at)
        remember_cookie(self._cache, header, credential, signed_at + self.max_age)
        return credential

    def _credential(self, session: dict[str, Any], value: str, signed_at: float) -> Credential | None:
        subject = self.claim_map.subject_of(session, integers=True)
        if subject is None:
            return None
        identity = self.claim_map.identity(subject, session, self.name)
        # Revocation is keyed on the signed message (payload and timestamp), not the cookie text:
        # itsdangerous decodes signatures leniently (ignored padding bits, skipped characters),
        # so one session has many spellings, all of which must stay revoked.
        signed = value.rpartition(".")[0]
        digest = hashlib.sha256(signed.encode("utf-8", "surrogateescape")).hexdigest()
        # Frameworks re-sign the cookie as the session changes: logout also sets a per-subject
        # "not before" time, so every earlier copy of this user's cookie is refused too.
        subject_digest = hashlib.sha256(identity.subject.encode("utf-8", "surrogateescape")).hexdigest()[:32]
        return Credential(
            identity,
            revocation_key=f"cookie:{digest}",
            expires_at=signed_at + self.max_age,
            issued_at=signed_at,
            logout_key=f"{NOT_BEFORE}{self.name}:{subject_digest}",
        )

    def load(self, value: str) -> tuple[dict[str, Any], float]:
        """Verify and decode one cookie value: (session, signing time in epoch seconds).

        Raises :class:`AuthenticationError` when the cookie is not genuine or too old.
        """
        try:
            if self.format == "starlette":
                data, signed = self._signer.unsign(
                    value.encode("utf-8"), max_age=self.max_age, return_timestamp=True
                )
                session = json.loads(base64.b64decode(data, validate=True))
            else:
                loaded, signed = self._serializer.loads(value, max_age=self.max_age, return_timestamp=True)
                session = _untag(loaded)
        except itsdangerous.SignatureExpired:
            raise AuthenticationError("session expired", genuine=True) from None
        except itsdangerous.BadData:
            raise AuthenticationError("bad session signature") from None
        except (ValueError, UnicodeError, binascii.Error):
            raise AuthenticationError("malformed session") from None
        if not isinstance(session, dict):
            raise AuthenticationError("malformed session")
        return session, signed.timestamp()
