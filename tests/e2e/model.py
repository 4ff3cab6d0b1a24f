"""What the example apps must answer, written down independently of routeguard's own code.

The two examples share one policy shape (examples/*/routeguard.toml) and the same demo users.
``expect(who, path, browser)`` says, for one identity and route, which status SPEC §4 requires
and whether the app may run; ``problems(...)`` compares a real response with that, including
who the app believed it was talking to (no identity may leak from one request to another).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

import jwt

JWT_SECRET = "e2e-jwt-secret-not-the-dev-default-0123456789abcdef"
SESSION_SECRET = "e2e-session-secret-not-the-dev-default-0123456789"
AUDIENCE = "routeguard-example"
API = "application/json"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
MAX_FAILURES = 20  # routeguard's default [throttle] max_failures

USERS = {  # examples/demo_users.py, restated
    "alice": ("alice-pass", frozenset({"user"}), frozenset({"acme"})),
    "bob": ("bob-pass", frozenset({"user"}), frozenset({"globex"})),
    "root": ("root-pass", frozenset({"admin", "user"}), frozenset({"acme", "globex"})),
}

# The routes the tests exercise (GET/HEAD) and the access the example policy gives them.
ROUTES: dict[str, str] = {
    "/": "public",
    "/health": "public",
    "/login": "public",
    "/dashboard": "authenticated",
    "/api/me": "authenticated",
    "/admin": "role:admin",
    "/admin/users": "role:admin",
    "/orgs/acme/projects": "tenant:acme",
    "/orgs/globex/projects": "tenant:globex",
    "/nowhere": "default-deny",
}

# What only an allowed request can ever see: if one of these shows up in a refused response,
# something protected leaked.
PROTECTED_MARKERS = (b"Only admins see this", b'"users"', b"Hello ", b'"projects"', b'"subject"')


@dataclass(frozen=True)
class Who:
    """One identity as a client presents it."""

    label: str
    subject: str | None = None  # whom the guard must see; None: nobody
    roles: frozenset[str] = frozenset()
    tenants: frozenset[str] = frozenset()
    headers: Mapping[str, str] = field(default_factory=dict)
    invalid: bool = False  # presents a credential the guard must reject
    genuine: bool = False  # ... that the app issued (expired, wrong audience): never a guess


ANONYMOUS = Who("anonymous")


@dataclass(frozen=True)
class Expected:
    status: int
    handled: bool = False  # the app runs (the guard allowed the request)
    location: str | None = None
    challenge: str | None = None


def allowed(who: Who, access: str) -> bool:
    if access == "public":
        return True
    if who.subject is None or access == "default-deny":
        return False
    kind, _, value = access.partition(":")
    if kind == "role":
        return value in who.roles
    if kind == "tenant":
        return value in who.tenants
    return kind == "authenticated"


def counts_as_failure(who: Who, path: str) -> bool:
    """Whether the request adds to the client's failed-credential count: a guessed credential, on
    any rule (RG-2026-13: public rules count too; expired or otherwise genuine tokens never)."""
    return who.invalid and not who.genuine


def expect(who: Who, path: str, browser: bool) -> Expected:
    """SPEC §4 for a GET of ``path`` by a client still under the failed-credential throttle."""
    access = ROUTES[path]
    if allowed(who, access):
        return Expected(200, handled=True)
    if who.subject is None:
        if browser:
            return Expected(302, location="/login?" + urlencode({"next": path}))
        return Expected(401, challenge='Bearer error="invalid_token"' if who.invalid else "Bearer")
    return Expected(403)


def problems(expected: Expected, who: Who, path: str, browser: bool, status: int, headers: Mapping[str, str],
             body: bytes, handled: bool) -> list[str]:
    """Everything wrong with a response (empty: it is exactly what SPEC §4 requires)."""
    found = []
    if status != expected.status:
        found.append(f"status {status}, expected {expected.status}")
    if handled != expected.handled:
        found.append("the app answered a request the guard had to refuse" if handled
                     else "the guard refused a request it had to allow")
    if status >= 500:
        found.append(f"server error {status}")
    if found:
        return found
    if not expected.handled:
        if headers.get("cache-control") != "no-store" or headers.get("vary") != "Accept":
            found.append(f"guard response without no-store/Vary: {dict(headers)}")
        if any(marker in body for marker in PROTECTED_MARKERS):
            found.append(f"protected content in a refusal: {body[:120]!r}")
        if expected.location is not None and headers.get("location") != expected.location:
            found.append(f"location {headers.get('location')!r}, expected {expected.location!r}")
        if expected.challenge is not None and headers.get("www-authenticate") != expected.challenge:
            found.append(f"challenge {headers.get('www-authenticate')!r}, expected {expected.challenge!r}")
        if status != 302 and body:
            kind = "text/html" if browser else "application/json"
            if not (headers.get("content-type") or "").startswith(kind):
                found.append(f"content-type {headers.get('content-type')!r} for a {kind} client")
            if not browser and json.loads(body) != {"error": _ERRORS[status]}:
                found.append(f"body {body[:80]!r}")
        return found
    # Allowed: the app must have seen exactly this identity (no bleeding between requests).
    text = body.decode("utf-8", "replace")
    if path == "/api/me" and json.loads(body).get("subject") != who.subject:
        found.append(f"/api/me answered for {text[:80]!r}, sent by {who.label}")
    if path == "/dashboard" and f"Hello {who.subject}." not in text:
        found.append(f"/dashboard greeted someone else than {who.subject}: {text[-120:]!r}")
    if path == "/":
        greeting = f"Signed in as {who.subject}." if who.subject else "Not signed in."
        if greeting not in text:
            found.append(f"home page without {greeting!r} for {who.label}")
    return found


_ERRORS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           429: "Too Many Requests", 503: "Service Unavailable"}


# -- credentials ------------------------------------------------------------------------------
def claims(user: str, *, ttl: int = 900, **extra: object) -> dict[str, object]:
    _, roles, tenants = USERS[user]
    now = int(time.time())
    payload: dict[str, object] = {"sub": user, "roles": sorted(roles), "tenants": sorted(tenants), "aud": AUDIENCE,
                                  "iat": now, "exp": now + ttl, "jti": secrets.token_urlsafe(12)}
    payload.update(extra)
    return payload


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def user_who(label: str, user: str, headers: Mapping[str, str]) -> Who:
    _, roles, tenants = USERS[user]
    return Who(label, user, roles, tenants, dict(headers))


def invalid_tokens() -> dict[str, Who]:
    """Bearer tokens the guard must reject: expired, forged, alg=none, wrong audience."""
    now = int(time.time())
    expired = jwt.encode(claims("root", iat=now - 7200, exp=now - 3600), JWT_SECRET, algorithm="HS256")
    forged = jwt.encode(claims("root"), "attacker-secret-0123456789abcdef-0123456789", algorithm="HS256")
    unsigned = jwt.encode(claims("root"), None, algorithm="none")  # type: ignore[arg-type]
    audience = jwt.encode(claims("root", aud="another-app"), JWT_SECRET, algorithm="HS256")
    return {
        "expired-token": Who("expired-token", headers=bearer(expired), invalid=True, genuine=True),
        "forged-token": Who("forged-token", headers=bearer(forged), invalid=True),
        "alg-none-token": Who("alg-none-token", headers=bearer(unsigned), invalid=True),
        "wrong-audience-token": Who("wrong-audience-token", headers=bearer(audience), invalid=True, genuine=True),
    }


def tampered_cookie(value: str, app: str) -> str:
    """A genuine session cookie with its payload swapped for an admin session (signature kept)."""
    session = json.dumps({"user_id": "root", "roles": ["admin", "user"], "tenants": ["acme", "globex"]})
    if app == "fastapi":  # Starlette: base64(json).timestamp.signature
        payload = base64.b64encode(session.encode()).decode()
    else:  # Flask: urlsafe base64 without padding
        payload = base64.urlsafe_b64encode(session.encode()).decode().rstrip("=")
    return ".".join([payload, *value.split(".")[1:]])


_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def reencoded_signatures(value: str) -> list[str]:
    """The same signed cookie with its signature written differently but decoding identically.

    itsdangerous signatures are unpadded base64 of a 20-byte HMAC-SHA1: 27 characters carrying
    162 bits, so the last character's two low bits are ignored, and base64 decoding skips
    characters outside the alphabet."""
    last = _B64URL.index(value[-1])
    siblings = [value[:-1] + _B64URL[(last & ~3) | low] for low in range(4) if (last & ~3) | low != last]
    return [*siblings, value + "~~~~"]
