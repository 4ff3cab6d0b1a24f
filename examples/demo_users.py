"""Demo users shared by the example apps (development only: never ship passwords in code)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

DEV_JWT_SECRET = "dev-only-jwt-secret-change-me-0123456789abcdef"
DEV_SESSION_SECRET = "dev-only-session-secret-change-me-0123456789"


def use_dev_secrets() -> None:
    """Fill APP_JWT_SECRET / APP_SESSION_SECRET / APP_STORE_URL with development values when unset.

    The store defaults to one SQLite file, so logouts hold across every worker process."""
    os.environ.setdefault("APP_JWT_SECRET", DEV_JWT_SECRET)
    os.environ.setdefault("APP_SESSION_SECRET", DEV_SESSION_SECRET)
    store = Path(tempfile.gettempdir()) / "routeguard-example.db"
    os.environ.setdefault("APP_STORE_URL", f"sqlite:///{store}")


@dataclass(frozen=True)
class User:
    name: str
    password_sha256: str
    roles: tuple[str, ...]
    tenants: tuple[str, ...]


def _h(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


USERS = {
    "alice": User("alice", _h("alice-pass"), ("user",), ("acme",)),
    "bob": User("bob", _h("bob-pass"), ("user",), ("globex",)),
    "root": User("root", _h("root-pass"), ("admin", "user"), ("acme", "globex")),
}


def check_password(name: str, password: str) -> User | None:
    """The user when the password matches (constant-time comparison), else None."""
    user = USERS.get(name)
    candidate = _h(password)
    if user is None:
        hmac.compare_digest(candidate, candidate)  # same work either way
        return None
    return user if hmac.compare_digest(candidate, user.password_sha256) else None


def issue_token(user: User, ttl: int = 900) -> str:
    """A bearer token for the JSON API, signed with APP_JWT_SECRET."""
    now = int(time.time())
    claims = {"sub": user.name, "roles": list(user.roles), "tenants": list(user.tenants),
              "aud": "routeguard-example", "iat": now, "exp": now + ttl, "jti": secrets.token_urlsafe(16)}
    return jwt.encode(claims, os.environ["APP_JWT_SECRET"], algorithm="HS256")


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:28em;margin:4em auto}}
label{{display:block;margin:.5em 0}}input{{font:inherit}}</style></head>
<body><h1>Sign in</h1>{error}
<form method="post" action="{action}">
<input type="hidden" name="next" value="{next}">
<label>User <input name="username" id="username" autocomplete="username"></label>
<label>Password <input name="password" id="password" type="password" autocomplete="current-password"></label>
<button type="submit" id="submit">Sign in</button>
</form>
<p>Demo users: alice / alice-pass (acme), bob / bob-pass (globex), root / root-pass (admin).</p>
</body></html>
"""


def page(title: str, body: str) -> str:
    """A minimal HTML page."""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>'
            f"<body><h1>{title}</h1>{body}</body></html>")
