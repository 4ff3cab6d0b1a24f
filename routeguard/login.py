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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .decision import Decision
from .effects import run_async, run_sync
from .errors import RouteGuardError
from .guard import Guard

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


def _guard(carrier: Mapping[str, Any]) -> Guard:
    guard = carrier.get(GUARD_KEY)
    if not isinstance(guard, Guard):
        raise RouteGuardError("this request did not pass through ASGIGuard or WSGIGuard")
    return guard


def _current(carrier: Mapping[str, Any]) -> Any:
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
    from .wsgi import request_from_environ

    guard = _guard(environ)
    flow = guard.login_flow(request_from_environ(environ), _current(environ), subject, roles, permissions,
                            tenants, next, default)
    return LoginResult(*run_sync(flow))


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
    from .asgi import request_from_scope

    guard = _guard(scope)
    flow = guard.login_flow(request_from_scope(scope), _current(scope), subject, roles, permissions,
                            tenants, next, default)
    return LoginResult(*await run_async(flow))


def logout(environ: Mapping[str, Any]) -> LogoutResult:
    """Revoke the credential of the current WSGI request (see the module docstring)."""
    from .wsgi import request_from_environ

    guard = _guard(environ)
    return LogoutResult(*run_sync(guard.logout_flow(request_from_environ(environ), _current(environ))))


async def alogout(scope: Mapping[str, Any]) -> LogoutResult:
    """Revoke the credential of the current ASGI request (see the module docstring)."""
    from .asgi import request_from_scope

    guard = _guard(scope)
    return LogoutResult(*await run_async(guard.logout_flow(request_from_scope(scope), _current(scope))))
