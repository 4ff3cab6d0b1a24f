"""Login and logout helpers for app handlers behind the guard.

WSGI (Flask)::

    result = routeguard.login(request.environ, "alice", roles=["user"], next=request.form.get("next"))
    response = redirect(result.location, 303)
    for name, value in result.headers:
        response.headers.add(name, value)

ASGI (Starlette, FastAPI): ``await routeguard.alogin(request.scope, ...)`` and
``await routeguard.alogout(request.scope)``.

``login`` starts a server-side session under a brand-new id (any previous one is destroyed: no
session fixation) when ``[auth.session] format = "server"``; with signed-cookie sessions your
framework writes the session itself and ``login`` only validates ``next``. ``logout`` revokes
the credential that authenticated the current request on the shared store, so every worker and
host refuses it from the next request on: the server-side session is deleted, a bearer token's
``jti`` is denied until its ``exp``, a Starlette/Flask session cookie is denied by digest until
its ``max_age``.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..backends.base import Credential
from ..core.decision import Decision
from ..core.request import RequestView
from ..core.responses import safe_next
from ..errors import RouteGuardError
from .effects import Effect, run_async, run_sync
from .guard import Guard, revocation_entry

#: How long a revocation lasts for a credential without an expiry of its own.
DEFAULT_REVOCATION_TTL: Final = 24 * 3600.0

GUARD_KEY = "routeguard.guard"
DECISION_KEY = "routeguard.decision"


@dataclass(frozen=True, slots=True)
class LoginResult:
    """Where to send the browser (a safe ``next``) and headers to add (``Set-Cookie``)."""

    location: str
    headers: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class LogoutResult:
    """Whether a credential was revoked, and headers to add (clearing a session cookie)."""

    revoked: bool
    headers: list[tuple[str, str]]


def login_flow(
    guard: Guard,
    request: RequestView,
    current: Credential | None,
    subject: str,
    roles: Iterable[str],
    permissions: Iterable[str],
    tenants: Iterable[str],
    next_url: str | None,
    default: str,
) -> Generator[Effect, Any, LoginResult]:
    """Start a server-side session (if configured) under a fresh id; where to go next."""
    location = safe_next(next_url, default) or default
    backend = guard.server_sessions
    if backend is None:
        return LoginResult(location, [])
    replaces = current.session_key if current is not None else None
    session_id = yield from backend.create(subject, roles, permissions, tenants, replaces=replaces)
    return LoginResult(location, [("set-cookie", backend.set_cookie(session_id, request.prefix or "/"))])


def logout_flow(guard: Guard, request: RequestView, current: Credential | None) -> Generator[Effect, Any, LogoutResult]:
    """Revoke the credential that authenticated ``request``; headers that clear cookies."""
    revoked = False
    if current is not None and current.session_key is not None:
        yield guard.store.effect("delete", current.session_key)
        revoked = True
    elif current is not None and current.revocation_key is not None:
        now = time.time()
        ttl = current.expires_at - now if current.expires_at is not None else DEFAULT_REVOCATION_TTL
        if ttl > 0:
            yield guard.store.effect("set", revocation_entry(current.revocation_key), b"1", ttl + 1)
        if current.logout_key is not None and current.issued_at is not None and current.expires_at is not None:
            # Copies signed in earlier seconds die too; those are valid for at most their lifetime.
            lifetime = current.expires_at - current.issued_at
            yield guard.store.effect("set", current.logout_key, str(int(now)).encode(), lifetime + 1)
        revoked = True
    headers = []
    if guard.server_sessions is not None:
        headers.append(("set-cookie", guard.server_sessions.clear_cookie(request.prefix or "/")))
    return LogoutResult(revoked, headers)


def _guard(carrier: Mapping[str, Any]) -> Guard:
    guard = carrier.get(GUARD_KEY)
    if not isinstance(guard, Guard):
        raise RouteGuardError("this request did not pass through ASGIGuard or WSGIGuard")
    return guard


def _current(carrier: Mapping[str, Any]) -> Credential | None:
    decision = carrier.get(DECISION_KEY)
    return decision.credential if isinstance(decision, Decision) else None


def login(
    environ: Mapping[str, Any],
    subject: str,
    *,
    roles: Iterable[str] = (),
    permissions: Iterable[str] = (),
    tenants: Iterable[str] = (),
    next: str | None = None,
    default: str = "/",
) -> LoginResult:
    """Log ``subject`` in from a WSGI handler (see the module docstring)."""
    from ..wsgi import request_from_environ

    flow = login_flow(_guard(environ), request_from_environ(environ), _current(environ), subject, roles,
                      permissions, tenants, next, default)
    return run_sync(flow)


async def alogin(
    scope: Mapping[str, Any],
    subject: str,
    *,
    roles: Iterable[str] = (),
    permissions: Iterable[str] = (),
    tenants: Iterable[str] = (),
    next: str | None = None,
    default: str = "/",
) -> LoginResult:
    """Log ``subject`` in from an ASGI handler (see the module docstring)."""
    from ..asgi import request_from_scope

    flow = login_flow(_guard(scope), request_from_scope(scope), _current(scope), subject, roles,
                      permissions, tenants, next, default)
    return await run_async(flow)


def logout(environ: Mapping[str, Any]) -> LogoutResult:
    """Revoke the credential of the current WSGI request (see the module docstring)."""
    from ..wsgi import request_from_environ

    return run_sync(logout_flow(_guard(environ), request_from_environ(environ), _current(environ)))


async def alogout(scope: Mapping[str, Any]) -> LogoutResult:
    """Revoke the credential of the current ASGI request (see the module docstring)."""
    from ..asgi import request_from_scope

    return await run_async(logout_flow(_guard(scope), request_from_scope(scope), _current(scope)))
