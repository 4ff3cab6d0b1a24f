"""Cookies the app already signs with itsdangerous (datasette's ``ds_actor``, and the like).

Reads a cookie written by ``URLSafeSerializer`` or ``URLSafeTimedSerializer`` with the app's own
secret, salt, key derivation and digest, so an existing login keeps working behind the guard
with nothing but a policy table. Defends against forged or tampered cookies (the HMAC signature,
checked by itsdangerous before anything is decoded), replay of old timed cookies (``max_age`` on
the signed timestamp), key rotation gaps (several secrets) and ambiguous duplicates (a cookie
sent twice with different values). A valid cookie without a subject is not a credential.

Logout revokes the cookie by the digest of its signed content (itsdangerous decodes signatures
leniently, so one cookie has many spellings); a timed cookie also sets a per-subject "not
before" time, so every earlier copy of that user's cookie is refused. An untimed cookie never
expires by itself: its revocation lasts :data:`UNTIMED_REVOCATION` seconds.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

import itsdangerous

from ..core.claims import ClaimMap
from ..core.request import RequestView
from ..errors import AuthenticationError, PolicyError
from ..stores.base import NOT_BEFORE
from .base import COOKIE_HEADERS, Credential, cookie_cache, cookie_quick, remember_cookie, request_cookie

Serializer = Literal["url_safe", "url_safe_timed"]
KeyDerivation = Literal["django-concat", "concat", "hmac", "none"]
Digest = Literal["sha1", "sha256", "sha384", "sha512"]

SERIALIZERS: Final = ("url_safe", "url_safe_timed")
#: How long a logged-out untimed cookie stays refused (it carries no expiry of its own).
UNTIMED_REVOCATION: Final = 365 * 24 * 3600.0
_UNTIMED_CACHE: Final = 300.0  # verified untimed cookies are re-verified this often


class SignedCookieBackend:
    """Authenticates from an itsdangerous-signed cookie the app writes.

    ``SignedCookieBackend(cookie="ds_actor", secrets=[secret], salt="actor", subject="a.id")``
    reads datasette's actor cookie; ``secrets`` lists the current key first, older keys after.
    """

    name = "signed_cookie"
    cookie_based = True  # a browser attaches it on its own: the CSRF origin check applies

    def __init__(
        self,
        *,
        cookie: str,
        secrets: Sequence[str | bytes],
        salt: str = "itsdangerous",
        serializer: Serializer = "url_safe",
        max_age: int | None = None,
        key_derivation: KeyDerivation = "django-concat",
        digest: Digest = "sha1",
        subject: str = "id",
        roles: str = "roles",
        permissions: str = "permissions",
        tenants: str = "tenants",
        cache_size: int = 10_000,
        cache_bytes: int = 32 << 20,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secrets or any(not s for s in secrets):
            raise PolicyError("auth.signed_cookie: a non-empty secret is required")
        if serializer not in SERIALIZERS:
            raise PolicyError(f"auth.signed_cookie.serializer: {serializer!r} is not one of {', '.join(SERIALIZERS)}")
        self.timed = serializer == "url_safe_timed"
        if self.timed and max_age is None:
            raise PolicyError("auth.signed_cookie.max_age: required with serializer = 'url_safe_timed'")
        if not self.timed and max_age is not None:
            raise PolicyError("auth.signed_cookie.max_age: an untimed ('url_safe') cookie carries no timestamp")
        self.cookie = cookie
        self.max_age = max_age
        self.claim_map = ClaimMap(subject, roles, permissions, tenants)
        self._clock = clock
        self._cache = cookie_cache(cache_size, cache_bytes, clock)
        self.quick = cookie_quick(cookie, self._cache)  # the cached credential (see QuickResult)
        keys = [s if isinstance(s, bytes) else s.encode() for s in reversed(secrets)]  # newest last
        kind = itsdangerous.URLSafeTimedSerializer if self.timed else itsdangerous.URLSafeSerializer
        self._serializer = kind(
            keys,
            salt=salt,
            signer_kwargs={"key_derivation": key_derivation, "digest_method": getattr(hashlib, digest)},
        )

    credential_headers: Final = COOKIE_HEADERS

    def authenticate(self, request: RequestView) -> Credential | None:
        """The cookie's subject as a credential; None without the cookie or without a subject."""
        value = request_cookie(request, self.cookie)
        if value is None:
            return None
        header = request.headers["cookie"]
        now = self._clock()
        cached = self._cache.get(header, now)
        if cached is not None:
            return cached[0]
        data, signed_at = self.load(value)
        credential = self._credential(data, value, signed_at, now)
        until = signed_at + self.max_age if signed_at is not None and self.max_age is not None else now + _UNTIMED_CACHE
        remember_cookie(self._cache, header, credential, until)
        return credential

    def load(self, value: str) -> tuple[dict[str, Any], float | None]:
        """Verify and decode one cookie value: (data, signing time or None when untimed)."""
        try:
            if isinstance(self._serializer, itsdangerous.URLSafeTimedSerializer):
                data, signed = self._serializer.loads(value, max_age=self.max_age, return_timestamp=True)
                signed_at: float | None = signed.timestamp()
            else:
                data, signed_at = self._serializer.loads(value), None
        except itsdangerous.SignatureExpired:
            raise AuthenticationError("cookie expired") from None
        except itsdangerous.BadData:
            raise AuthenticationError("bad cookie signature") from None
        except (ValueError, UnicodeError):
            raise AuthenticationError("malformed cookie") from None
        if not isinstance(data, dict):
            raise AuthenticationError("malformed cookie")
        return data, signed_at

    def _credential(self, data: dict[str, Any], value: str, signed_at: float | None, now: float) -> Credential | None:
        subject = self.claim_map.subject_of(data, integers=True)
        if subject is None:
            return None
        identity = self.claim_map.identity(subject, data, self.name)
        signed = value.rpartition(".")[0]
        digest = hashlib.sha256(signed.encode("utf-8", "surrogateescape")).hexdigest()
        if signed_at is None or self.max_age is None:
            return Credential(identity, revocation_key=f"cookie:{digest}", expires_at=now + UNTIMED_REVOCATION)
        subject_digest = hashlib.sha256(subject.encode("utf-8", "surrogateescape")).hexdigest()[:32]
        return Credential(
            identity,
            revocation_key=f"cookie:{digest}",
            expires_at=signed_at + self.max_age,
            issued_at=signed_at,
            logout_key=f"{NOT_BEFORE}{self.name}:{subject_digest}",
        )
