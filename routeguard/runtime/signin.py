"""Login and logout helpers for app handlers behind the guard.

WSGI (Flask)::

    result = routeguard.login(request.environ, "alice", roles=["user"], next=request.form.get("next"))
    response = redirect(result.location, 303)
    for name, value in result.headers:
        response.headers.add(name, value)

ASGI (Starlette, FastAPI): ``await routeguard.alogin(request.scope, ...)`` and
``await routeguard.alogout(request.scope)``.

A wrong password: ``routeguard.login_failed(request.environ, username)`` (ASGI: ``await
routeguard.alogin_failed(request.scope, username)``) counts the failure per client and per
username on the store; over ``[throttle]`` limits, POSTs to ``login_url`` from that client or
naming that username get 429 with ``Retry-After`` (see :mod:`routeguard.runtime.throttle`). A successful
``login`` resets the username's counter.

``login`` starts a server-side session under a brand-new id (any previous one is destroyed: no
session fixation) when ``[auth.session] format = "server"``; with signed-cookie sessions your
framework writes the session itself and ``login`` only validates ``next``. ``logout`` revokes
the credential that authenticated the current request on the shared store, so every worker and
host refuses it from the next request on: the server-side session is deleted, a bearer token's
``jti`` is denied until its ``exp``, a Starlette/Flask session cookie is denied by digest until
its ``max_age``, a token without ``jti`` by its digest until its ``exp``.

A logout that cannot revoke a credential the server accepts never pretends it did: when the
store fails, ``logout`` raises :class:`routeguard.LogoutError` (a
:class:`~routeguard.ServiceUnavailableError`); answer 503 and leave the client's cookie alone::

    @app.errorhandler(routeguard.ServiceUnavailableError)
    def unavailable(exc):
        return jsonify(error="Service Unavailable"), 503, {"Retry-After": "5"}

A credential that carries no revocation key (an API key, an identity from a custom backend)
is not revoked: ``revoked`` is False and a warning is logged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..core.decision import Decision
from ..core.identity import Credential
from ..core.request import RequestView
from ..core.responses import mount_prefix, safe_next
from ..errors import LogoutError, RouteGuardError, ServiceUnavailableError
from .audit import logger
from .effects import Effect, Flow, run_async, run_sync
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
    username: str,
) -> Generator[Effect, Any, LoginResult]:
    """Reset ``username``'s failed logins; start a server-side session (if configured) under a
    fresh id; where to go next."""
    location = safe_next(next_url, default) or default
    if guard.throttle is not None:
        yield from guard.throttle.login_succeeded(username)
    backend = guard.server_sessions
    if backend is None:
        return LoginResult(location, [])
    replaces = current.session_key if current is not None else None
    session_id = yield from backend.create(subject, roles, permissions, tenants, replaces=replaces)
    return LoginResult(location, [("set-cookie", backend.set_cookie(session_id, mount_prefix(request.prefix) or "/"))])


def logout_flow(guard: Guard, request: RequestView, current: Credential | None) -> Generator[Effect, Any, LogoutResult]:
    """Revoke every credential that authenticated ``request``; headers that clear cookies.

    Raises :class:`LogoutError` when the request carried a credential that could not be checked
    or revoked (the store failed): a logout never reports success, nor clears the client's
    cookie, while the server would still accept the credential.
    """
    try:
        # Look again: on a public rule the guard ignores a credential it could not check (store
        # down), which must be revoked now or fail loudly; and a request may carry several
        # credentials of its user (a session cookie and a token), each of which dies here.
        auth = yield from guard.authenticate(request)
        credentials = [current] if current is not None else []
        credentials += [c for c in (auth.credential, *auth.others) if c is not None and c not in credentials]
        revoked = False
        for credential in credentials:
            revoked = (yield from _revoke(guard, credential)) or revoked
    except ServiceUnavailableError as exc:
        raise LogoutError(f"logout failed, the credential is still valid: {exc}") from None
    headers = []
    if guard.server_sessions is not None:
        headers.append(("set-cookie", guard.server_sessions.clear_cookie(mount_prefix(request.prefix) or "/")))
    return LogoutResult(revoked, headers)


def _revoke(guard: Guard, current: Credential | None) -> Generator[Effect, Any, bool]:
    """Delete the server-side session or deny-list the credential until it expires."""
    if current is None:
        return False  # nothing (valid) presented: nothing to revoke
    if current.session_key is not None:
        yield guard.store.delete_effect(current.session_key)
        return True
    if current.revocation_key is None:
        logger.warning("logout: the %s credential has no revocation key; nothing was revoked "
                       "(a custom backend returns a Credential with a revocation_key)", current.identity.backend)
        return False
    now = time.time()
    ttl = current.expires_at - now if current.expires_at is not None else DEFAULT_REVOCATION_TTL
    if ttl > 0:
        yield guard.store.set_effect(revocation_entry(current.revocation_key), b"1", ttl + 1)
    if current.logout_key is not None and current.issued_at is not None and current.expires_at is not None:
        # Copies signed in earlier seconds die too; those are valid for at most their lifetime.
        lifetime = current.expires_at - current.issued_at
        yield guard.store.set_effect(current.logout_key, str(int(now)).encode(), lifetime + 1)
    return True


def _guard(carrier: Mapping[str, Any]) -> Guard:
    guard = carrier.get(GUARD_KEY)
    if not isinstance(guard, Guard):
        raise RouteGuardError("this request did not pass through ASGIGuard or WSGIGuard")
    return guard


def _current(carrier: Mapping[str, Any]) -> Credential | None:
    decision = carrier.get(DECISION_KEY)
    return decision.credential if isinstance(decision, Decision) else None


View = Callable[[Mapping[str, Any]], RequestView]


def _login(carrier: Mapping[str, Any], view: View, subject: str, options: dict[str, Any]) -> Flow[LoginResult]:
    """The login flow for one request (both adapters drive this one flow)."""
    guard = _guard(carrier)
    return login_flow(guard, view(carrier), _current(carrier), subject, options["roles"], options["permissions"],
                      options["tenants"], options["next"], options["default"], options["username"])


def _logout(carrier: Mapping[str, Any], view: View) -> Flow[LogoutResult]:
    """The logout flow for one request (both adapters drive this one flow)."""
    guard = _guard(carrier)
    return logout_flow(guard, view(carrier), _current(carrier))


def login(
    environ: Mapping[str, Any],
    subject: str,
    *,
    roles: Iterable[str] = (),
    permissions: Iterable[str] = (),
    tenants: Iterable[str] = (),
    next: str | None = None,
    default: str = "/",
    username: str | None = None,
) -> LoginResult:
    """Log ``subject`` in from a WSGI handler (see the module docstring).

    ``username`` (default: ``subject``) is what the user typed: its failed-login counter is reset.
    """
    from ..wsgi import request_from_environ

    options = {"roles": roles, "permissions": permissions, "tenants": tenants, "next": next, "default": default,
               "username": subject if username is None else username}
    return run_sync(_login(environ, request_from_environ, subject, options))


async def alogin(
    scope: Mapping[str, Any],
    subject: str,
    *,
    roles: Iterable[str] = (),
    permissions: Iterable[str] = (),
    tenants: Iterable[str] = (),
    next: str | None = None,
    default: str = "/",
    username: str | None = None,
) -> LoginResult:
    """Log ``subject`` in from an ASGI handler (see :func:`login`)."""
    from ..asgi import request_from_scope

    options = {"roles": roles, "permissions": permissions, "tenants": tenants, "next": next, "default": default,
               "username": subject if username is None else username}
    return await run_async(_login(scope, request_from_scope, subject, options))


def login_failed_flow(guard: Guard, request: RequestView, username: str) -> Generator[Effect, Any, int | None]:
    """Count a failed login (nothing when the throttle is disabled)."""
    if guard.throttle is None:
        return None
    return (yield from guard.throttle.login_failed(guard.throttle.client(request), username))


def login_failed(environ: Mapping[str, Any], username: str) -> int | None:
    """Report a failed login (wrong password) for ``username`` from a WSGI handler.

    Counted per client and per username on the store. Returns the seconds to wait when the
    client or the username is now over its ``[throttle]`` limit (its next POST to
    ``login_url`` gets 429 with ``Retry-After``), else None. Raises
    :class:`ServiceUnavailableError` when the store fails.
    """
    from ..wsgi import request_from_environ

    return run_sync(login_failed_flow(_guard(environ), request_from_environ(environ), username))


async def alogin_failed(scope: Mapping[str, Any], username: str) -> int | None:
    """Report a failed login for ``username`` from an ASGI handler (see :func:`login_failed`)."""
    from ..asgi import request_from_scope

    return await run_async(login_failed_flow(_guard(scope), request_from_scope(scope), username))


def logout(environ: Mapping[str, Any]) -> LogoutResult:
    """Revoke the credential of the current WSGI request (see the module docstring).

    Raises :class:`routeguard.LogoutError` (answer 503) when it could not be checked or revoked.
    """
    from ..wsgi import request_from_environ

    return run_sync(_logout(environ, request_from_environ))


async def alogout(scope: Mapping[str, Any]) -> LogoutResult:
    """Revoke the credential of the current ASGI request (see the module docstring).

    Raises :class:`routeguard.LogoutError` (answer 503) when it could not be checked or revoked.
    """
    from ..asgi import request_from_scope

    return await run_async(_logout(scope, request_from_scope))
