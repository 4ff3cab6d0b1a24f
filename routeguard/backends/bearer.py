"""Bearer JWT authentication (RFC 6750 header, RFC 7519 token) on top of pyjwt.

Defends against: algorithm confusion (an explicit allowlist from one algorithm family, so
an RSA public key can never verify an HMAC token, and ``none`` is refused), weak HMAC keys
(shorter than the hash output), tokens without expiry (``exp`` required by default), tokens
minted for another audience or issuer, parser differentials (duplicate JSON members and
unknown ``crit`` extensions are refused before pyjwt sees the token) and oversized headers.
Verified tokens are cached (keyed on the token itself) until their ``exp``, so a repeated token
costs no signature check and no hashing; revocation is still checked on every request by the guard.

Where a token may also come from: a cookie (``cookie``: a cookie credential, so the guard's
CSRF origin check applies; ``csrf_cookie``/``csrf_header`` add Flask-JWT-Extended's double
submit on unsafe methods, compared in constant time with the token's ``csrf`` claim) and a
browser websocket's ``Sec-WebSocket-Protocol: bearer, <token>`` (``websocket_subprotocol``),
never the query string, where tokens end up in access logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

# pyjwt and cryptography are imported when a bearer backend is built (or a key loaded), not
# with this module: ``import routeguard.asgi`` stays cheap for apps without tokens.
from ..core.claims import ClaimMap
from ..core.csrf import SAFE_METHODS
from ..core.request import RequestView
from ..errors import AuthenticationError, PolicyError
from ..runtime.cache import TTLCache
from ..runtime.effects import Effect
from .base import UNSURE, Credential, QuickResult
from .keys import EC, HMAC, OKP, RSA, algorithm_family

_HMAC_MIN_BYTES: Final = {"HS256": 32, "HS384": 48, "HS512": 64}
_TOKEN_SHAPE: Final = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_ENTRY_OVERHEAD: Final = 1024  # bytes a cached credential costs besides the token's claims
_UNCACHED_TTL: Final = 60.0  # tokens without exp (require_exp=false) are re-verified this often


#: A verified token's key in the cache: the whole ``Authorization`` header value it came in (what
#: :meth:`BearerBackend.quick` looks up), or ``token_key(token)`` for a token from a cookie or a
#: websocket subprotocol. A tuple never equals a header string: the two never answer for each other.
CacheKey = str | tuple[str, str]


def token_key(token: str) -> tuple[str, str]:
    """The cache key of a token that did not come in an ``Authorization`` header."""
    return ("token", token)


def _reasons() -> tuple[tuple[type[Exception], str], ...]:
    import jwt

    return (
        (jwt.ExpiredSignatureError, "token expired"),
        (jwt.ImmatureSignatureError, "token not yet valid"),
        (jwt.InvalidAudienceError, "wrong audience"),
        (jwt.InvalidIssuerError, "wrong issuer"),
        (jwt.InvalidSignatureError, "bad signature"),
        (jwt.InvalidAlgorithmError, "algorithm not allowed"),
        (jwt.MissingRequiredClaimError, "missing required claim"),
        (jwt.DecodeError, "malformed token"),
    )


def _key_types(family: str) -> tuple[type, ...]:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    return {
        RSA: (rsa.RSAPublicKey,),
        EC: (ec.EllipticCurvePublicKey,),
        OKP: (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey),
    }[family]

#: Finds the key for a token's header: always a flow (``effects.done(key)`` when no I/O is needed).
KeyResolver = Callable[[Mapping[str, Any]], Generator[Effect, Any, Any]]


def hmac_key(secret: str | bytes, algorithms: Sequence[str]) -> bytes:
    """The HMAC key as bytes, refused when shorter than the strongest hash in ``algorithms``."""
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    need = max(_HMAC_MIN_BYTES[alg] for alg in algorithms)
    if len(key) < need:
        raise PolicyError(
            f"auth.bearer: the HMAC secret is {len(key)} bytes; {', '.join(algorithms)} needs at least {need}"
        )
    return key


def public_key(pem: str | bytes, family: str) -> Any:
    """Load a PEM public key and check that it belongs to ``family``."""
    if family == HMAC:
        raise PolicyError("auth.bearer: a public key cannot verify HS* tokens; use secret_env")
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    except ValueError as exc:
        raise PolicyError(f"auth.bearer.public_key_file: not a PEM public key ({exc})") from None
    if not isinstance(key, _key_types(family)):
        kind = type(key).__name__
        raise PolicyError(f"auth.bearer.public_key_file: a {kind} cannot verify {family} tokens")
    return key


#: The subprotocol a browser offers before its token (``new WebSocket(url, ["bearer", token])``).
SUBPROTOCOL: Final = "bearer"


def offered_subprotocols(header: str | None) -> list[str]:
    """The subprotocols a websocket handshake offers, in order (``Sec-WebSocket-Protocol``)."""
    return [item.strip() for item in header.split(",")] if header else []


def subprotocol_token(header: str | None) -> str | None:
    """The token offered right after ``bearer`` in ``Sec-WebSocket-Protocol``, or None."""
    offered = offered_subprotocols(header)
    if SUBPROTOCOL not in offered:
        return None
    position = offered.index(SUBPROTOCOL)
    if position + 1 >= len(offered) or not offered[position + 1]:
        raise AuthenticationError("bearer subprotocol offered without a token")
    return offered[position + 1]


def without_token(subprotocols: list[str]) -> list[str]:
    """``subprotocols`` without ``bearer`` and the token offered after it (what the app sees)."""
    if SUBPROTOCOL not in subprotocols:
        return subprotocols
    position = subprotocols.index(SUBPROTOCOL)
    return subprotocols[:position] + subprotocols[position + 2:]


def unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and payload of a compact JWT, parsed strictly, before any verification:
    duplicate members, non-object segments and unknown ``crit`` extensions are refused."""
    if not _TOKEN_SHAPE.fullmatch(token):
        raise AuthenticationError("malformed token")
    head_segment, payload_segment, _ = token.split(".")
    header_claims = _strict_json(head_segment)
    payload = _strict_json(payload_segment)
    if "crit" in header_claims:
        raise AuthenticationError("unsupported critical header")
    return header_claims, payload


def unverified_header(token: str) -> dict[str, Any]:
    """The strictly parsed header of a compact JWT (see :func:`unverified_parts`)."""
    return unverified_parts(token)[0]


def _strict_json(segment: str) -> dict[str, Any]:
    """Decode one base64url JSON segment, refusing duplicate members and non-objects."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, value in pairs:
            if name in result:
                raise AuthenticationError("duplicate member in token")
            result[name] = value
        return result

    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(raw, object_pairs_hook=no_duplicates)
    except (ValueError, UnicodeDecodeError):
        raise AuthenticationError("malformed token") from None
    if not isinstance(value, dict):
        raise AuthenticationError("malformed token")
    return value


class BearerBackend:
    """Verifies ``Authorization: Bearer <JWT>`` (or, when configured, the JWT in ``cookie`` or
    offered as a websocket subprotocol).

    ``BearerBackend(algorithms=["HS256"], key=secret, audience="my-api")``; for asymmetric
    tokens pass a loaded public key, or ``resolve_key`` (a JWKS key set) that picks a key from
    the token header.
    """

    name = "bearer"

    def __init__(
        self,
        *,
        algorithms: Sequence[str],
        key: Any = None,
        resolve_key: KeyResolver | None = None,
        audience: str | Sequence[str] | None = None,
        issuer: str | Sequence[str] | None = None,
        leeway: float = 0,
        require_exp: bool = True,
        subject_claim: str = "sub",
        roles_claim: str = "roles",
        permissions_claim: str = "scope",
        tenants_claim: str = "tenants",
        max_header_bytes: int = 8192,
        cookie: str | None = None,
        csrf_cookie: str | None = None,
        csrf_header: str | None = None,
        websocket_subprotocol: bool = False,
        cache_size: int = 10_000,
        cache_bytes: int = 32 << 20,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if (csrf_cookie is None) != (csrf_header is None) or (csrf_cookie is not None and cookie is None):
            raise PolicyError("auth.bearer: csrf_cookie and csrf_header go together, with cookie")
        #: Revocation keys of tokens with a ``jti`` start with this; several issuers each get
        #: their own (see IssuerBearerBackend), so one issuer's jti never revokes another's token.
        self.jti_prefix = "jti:"
        self.cookie = cookie
        self.websocket_subprotocol = websocket_subprotocol
        # (a websocket's subprotocol token is not among them: the plain lane takes no websocket)
        self.credential_headers = frozenset({"authorization", *(["cookie"] if cookie is not None else [])})
        self.csrf_cookie = csrf_cookie
        self.csrf_header = csrf_header.lower() if csrf_header is not None else None
        self.algorithms = list(algorithms)
        self.family = algorithm_family(self.algorithms)
        if (key is None) == (resolve_key is None):
            raise PolicyError("auth.bearer: give exactly one key source (secret, public key or JWKS)")
        if key is not None and self.family == HMAC:
            key = hmac_key(key, self.algorithms)
        elif key is not None and isinstance(key, str | bytes):
            key = public_key(key, self.family)
        self._key = key
        self._resolve_key = resolve_key
        self.audience = audience
        self.issuer = issuer
        self.leeway = leeway
        self.claim_map = ClaimMap(subject_claim, roles_claim, permissions_claim, tenants_claim)
        self.max_header_bytes = max_header_bytes
        self._clock = clock
        self._required = ["exp"] if require_exp else []
        import jwt

        self._jwt = jwt.PyJWT()
        # Bounded in bytes too: a verified token costs about its length again as parsed claims.
        self._cache: TTLCache[Credential] = TTLCache(cache_size, clock, maxbytes=cache_bytes)

    def authenticate(self, request: RequestView) -> Credential | Generator[Effect, Any, Credential] | None:
        """The verified token's credential, None without a token, or a key-fetch flow."""
        found = self.token(request)
        if found is None:
            return None
        return self.finish(*found, request)

    def quick(self, headers: Mapping[str, str]) -> QuickResult:
        """The cached credential of the ``Authorization`` header, by its exact value (see
        :data:`QuickResult`); a token cookie or an uncached header is left to ``authenticate``."""
        header = headers.get("authorization")
        if header is None:
            name = self.cookie
            if name is not None and name in (headers.get("cookie") or ""):
                return UNSURE
            return None
        entry = self._cache.peek(header)
        if entry is None or entry[0] <= self._clock():
            return UNSURE  # unknown, or expired: authenticate verifies (and drops the entry)
        return entry[1]

    def finish(
        self, token: str, from_cookie: bool, cache_key: CacheKey, request: RequestView
    ) -> Credential | Generator[Effect, Any, Credential]:
        """Verify ``token`` found in ``request`` (cached under ``cache_key``); a cookie token on
        an unsafe method also passes the double submit when it is configured. (The guard
        applies the CSRF origin check to a cookie token because this backend read a cookie.)"""
        result = self.verify(token, cache_key)
        if not from_cookie or self.csrf_cookie is None or request.method in SAFE_METHODS:
            return result
        if isinstance(result, Generator):
            return self._double_submit_after(result, request)
        self.double_submit(result, request)
        return result

    def token(self, request: RequestView) -> tuple[str, bool, CacheKey] | None:
        """(token, read from the cookie?, cache key) from ``Authorization: Bearer`` or else the
        cookie. A header token is cached under the whole header value (a ``str``), so that
        :meth:`quick` finds it without parsing the header; a token from anywhere else under
        :func:`token_key` (a tuple), so no other source's entry ever answers for a header, nor a
        header's for a cookie (RG-2026-34)."""
        header = request.headers.get("authorization")
        if header is not None:
            if len(header) > self.max_header_bytes:
                raise AuthenticationError("authorization header too large")
            scheme, _, token = header.strip().partition(" ")
            if scheme.lower() == "bearer":
                return token.strip(), False, header
        if self.websocket_subprotocol and request.websocket:
            offered = subprotocol_token(request.headers.get("sec-websocket-protocol"))
            if offered is not None:
                if len(offered) > self.max_header_bytes:
                    raise AuthenticationError("subprotocol token too large")
                return offered, False, token_key(offered)
        if self.cookie is not None:
            value = request.cookie(self.cookie)
            if value is not None:
                if len(value) > self.max_header_bytes:
                    raise AuthenticationError("token cookie too large")
                token = value.strip()
                return token, True, token_key(token)
        return None

    def double_submit(self, credential: Credential, request: RequestView) -> None:
        """Refuse an unsafe request whose CSRF header does not equal both the CSRF cookie and
        the token's ``csrf`` claim (Flask-JWT-Extended's double submit)."""
        header = request.headers.get(self.csrf_header) if self.csrf_header else None
        cookie = request.cookie(self.csrf_cookie) if self.csrf_cookie else None
        claim = credential.identity.claims.get("csrf")
        if not header or not cookie or not isinstance(claim, str) or not claim:
            raise AuthenticationError("csrf double submit missing")
        expected = claim.encode("utf-8", "surrogateescape")
        same_header = hmac.compare_digest(header.encode("utf-8", "surrogateescape"), expected)
        same_cookie = hmac.compare_digest(cookie.encode("utf-8", "surrogateescape"), expected)
        if not (same_header and same_cookie):
            raise AuthenticationError("csrf double submit mismatch")

    def _double_submit_after(
        self, flow: Generator[Effect, Any, Credential], request: RequestView
    ) -> Generator[Effect, Any, Credential]:
        credential = yield from flow
        self.double_submit(credential, request)
        return credential

    def verify(self, token: str, cache_key: CacheKey | None = None) -> Credential | Generator[Effect, Any, Credential]:
        """Verify one compact JWT (cached until its ``exp`` under ``cache_key``, by default
        :func:`token_key`: a hit costs one dict lookup, the exact strings compared, no digest)."""
        now = self._clock()
        key = token_key(token) if cache_key is None else cache_key
        cached = self._cache.get(key, now)
        if cached is not None:
            return cached
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        header_claims = unverified_header(token)
        if header_claims.get("alg") not in self.algorithms:
            raise AuthenticationError("algorithm not allowed")
        if self._resolve_key is None:
            return self._verify(token, key, digest, self._key, now)
        return self._verify_after(self._resolve_key(header_claims), token, key, digest)

    def _verify_after(
        self, key_flow: Generator[Effect, Any, Any], token: str, cache_key: CacheKey, digest: bytes
    ) -> Generator[Effect, Any, Credential]:
        key = yield from key_flow
        return self._verify(token, cache_key, digest, key, self._clock())

    def _verify(self, token: str, cache_key: CacheKey, digest: bytes, key: Any, now: float) -> Credential:
        import jwt  # already loaded by __init__: a dict lookup

        try:
            claims = self._jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": self._required},
            )
        except jwt.InvalidTokenError as exc:
            # pyjwt checks claims only after the signature verified: such a token is genuine.
            genuine = not isinstance(exc, jwt.DecodeError | jwt.InvalidAlgorithmError)
            raise AuthenticationError(_reason(exc), genuine=genuine) from None
        except (jwt.PyJWKError, ValueError, TypeError):
            raise AuthenticationError("token cannot be verified with the configured key") from None
        credential = self._credential(claims, digest)
        exp = claims.get("exp")
        expires_at = float(exp) if isinstance(exp, int | float) else now + _UNCACHED_TTL
        self._cache.set(cache_key, credential, expires_at, size=4 * len(token) + _ENTRY_OVERHEAD)
        return credential

    def _credential(self, claims: dict[str, Any], digest: bytes) -> Credential:
        subject = self.claim_map.subject_of(claims)
        if subject is None:
            raise AuthenticationError("token has no subject", genuine=True)
        identity = self.claim_map.identity(subject, claims, self.name, MappingProxyType(claims))
        jti = claims.get("jti")
        exp = claims.get("exp")
        # A token without a jti is revoked by its digest (until its exp), as cookies are. It is
        # accepted until exp + leeway, so its revocation lasts that long too.
        return Credential(
            identity,
            revocation_key=self.jti_prefix + jti if isinstance(jti, str) and jti else "token:" + digest.hex(),
            expires_at=float(exp) + self.leeway if isinstance(exp, int | float) else None,
            issued_at=float(iat) if isinstance(iat := claims.get("iat"), int | float) else None,
        )


def _reason(exc: Exception) -> str:
    for kind, reason in _reasons():
        if isinstance(exc, kind):
            return reason
    return "invalid token"
