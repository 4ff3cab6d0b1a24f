"""Django: routeguard as the outermost middleware, Django's own login as a credential.

    # settings.py
    MIDDLEWARE = ["routeguard.integrations.django.RouteGuardMiddleware", ...]   # first
    ROUTEGUARD = {"policy": BASE_DIR / "routeguard.toml"}                      # or a dict, or a Policy

The middleware judges every request Django handles, the test ``Client`` included, before any
other middleware or view. On an allowed request ``request.user`` is the guard's identity (the
Django user whose ``USERNAME_FIELD`` is the subject, or a :class:`GuardUser` for an API client
with no account), so ``@login_required``, ``LoginRequiredMiddleware``, DRF permissions and
templates agree with the guard; ``request.routeguard_identity`` is the :class:`Identity`.

``[auth.session] format = "django"`` reads Django's own session through ``SESSION_ENGINE``
(db, cache, cached_db, signed_cookies, file), checks it the way ``django.contrib.auth.get_user``
does (backend listed, session hash verified, ``is_active``), and never writes to it. The ORM
work runs in ``asgiref``'s thread under ASGI, never on the event loop. A refused login (unknown
or expired session, changed password, disabled user) is an invalid credential: 401, or the
login redirect for a browser.

Wrapping the server entry point instead (``guard_wsgi(get_wsgi_application())`` or
``guard_asgi(get_asgi_application())``) also refuses requests Django never routes (static files
served by the same process, a mounted app); keep the middleware as well for ``request.user`` and
the test ``Client``: it reuses the outer decision instead of deciding twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from functools import partial
from importlib import import_module
from os import PathLike
from typing import Any

from ..asgi import ASGIApp, ASGIGuard, request_from_scope
from ..backends.base import Credential
from ..core.decision import Decision
from ..core.identity import Identity
from ..core.request import RequestView
from ..core.responses import Response
from ..errors import AuthenticationError, PolicyError, RouteGuardError
from ..policy.auth import SessionConfig
from ..policy.model import Policy
from ..runtime.effects import Effect, run_async, run_sync
from ..runtime.guard import Guard
from ..runtime.signin import LogoutResult, logout_flow
from ..stores import Store
from ..wsgi import WSGIApp, WSGIGuard, request_from_environ
from . import django_throttle
from .django_throttle import login_usernames

__all__ = [
    "DjangoSessionBackend",
    "GuardUser",
    "RouteGuardMiddleware",
    "django_identity",
    "guard_asgi",
    "guard_wsgi",
    "load_identity",
    "logout",
    "session_backend",
    "settings_policy",
]

_LOCK = threading.Lock()
_POLICIES: dict[tuple[Any, str | None], Policy] = {}


# -- the policy from settings ------------------------------------------------------------------
def settings_policy() -> Policy:
    """The policy named by ``settings.ROUTEGUARD["policy"]`` (a TOML path, a dict or a Policy),
    with Django's ``LOGIN_URL`` as its login page when the policy names none. Loaded once."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    config = getattr(settings, "ROUTEGUARD", None)
    if not isinstance(config, Mapping) or "policy" not in config:
        raise ImproperlyConfigured(
            "settings.ROUTEGUARD must be a dict with a 'policy' key (a TOML file path, a dict or a Policy)"
        )
    unknown = sorted(set(config) - {"policy"})
    if unknown:
        raise ImproperlyConfigured(f"settings.ROUTEGUARD: unknown key {unknown[0]!r}")
    source = config["policy"]
    login_url = _login_url()
    key = (str(source) if isinstance(source, str | PathLike) else id(source), login_url)
    with _LOCK:
        policy = _POLICIES.get(key)
        if policy is None:
            policy = _with_login_url(_load(source), login_url, settings.is_overridden("LOGIN_URL"))
            _POLICIES[key] = policy
    return policy


def _load(source: Any) -> Policy:
    from django.core.exceptions import ImproperlyConfigured

    if isinstance(source, Policy):
        return source
    if isinstance(source, Mapping):
        return Policy(**source)
    if isinstance(source, str | PathLike):
        return Policy.from_toml(source)
    raise ImproperlyConfigured("settings.ROUTEGUARD['policy'] must be a TOML file path, a dict or a Policy")


def _login_url() -> str | None:
    from django.conf import settings
    from django.shortcuts import resolve_url

    url = getattr(settings, "LOGIN_URL", None)
    return str(resolve_url(url)) if url else None


def _with_login_url(policy: Policy, url: str | None, explicit: bool) -> Policy:
    """The policy's own ``login_url`` wins; else Django's (an error only if the project set one)."""
    if policy.login_url is not None or url is None or not url.startswith("/"):
        return policy
    try:
        return policy.model_copy(update={"login_url": url})
    except PolicyError:
        if explicit:
            raise
        return policy  # Django's default /accounts/login/ on an API-only project: no redirect target


# -- the middleware ----------------------------------------------------------------------------
class RouteGuardMiddleware:
    """Django middleware (sync and async); put it first in ``MIDDLEWARE``."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        from asgiref.sync import iscoroutinefunction, markcoroutinefunction

        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        self._guard: Guard | None = None
        django_throttle.connect()  # user_login_failed / user_logged_in feed the login throttle
        if self.is_async:
            markcoroutinefunction(self)
            self.process_view = self._aprocess_view  # type: ignore[method-assign,assignment]

    @property
    def guard(self) -> Guard:
        """The guard of ``settings.ROUTEGUARD`` (built at the first request)."""
        if self._guard is None:
            self._guard = Guard.for_policy(settings_policy())
        return self._guard

    def __call__(self, request: Any) -> Any:
        if self.is_async:
            return self.__acall__(request)
        guard = self.guard
        decision = _outer_decision(request, guard)
        if decision is None:
            try:
                view = _request_view(request)
                decision = run_sync(guard.evaluate(view, login_usernames(request, view, guard)))
            except Exception as exc:
                view = RequestView(method=str(request.method or "GET"), path="?")
                decision = guard.failed(exc)
            response = guard.finish(decision, view)
            if response is not None:
                return _http_response(response, view)
        _admit(request, decision, guard)
        return self.get_response(request)

    async def __acall__(self, request: Any) -> Any:
        guard = self.guard
        decision = _outer_decision(request, guard)
        if decision is None:
            try:
                view = _request_view(request)
                decision = await run_async(guard.evaluate(view, login_usernames(request, view, guard)))
            except Exception as exc:
                view = RequestView(method=str(request.method or "GET"), path="?")
                decision = guard.failed(exc)
            response = guard.finish(decision, view)
            if response is not None:
                return _http_response(response, view)
        _admit(request, decision, guard)
        return await self.get_response(request)

    def process_view(self, request: Any, view_func: Any, view_args: Any, view_kwargs: Any) -> None:
        """Runs after every middleware's request phase: puts the guard's user back in place of
        the session user ``AuthenticationMiddleware`` set, before ``LoginRequiredMiddleware``."""
        _restore_user(request)

    async def _aprocess_view(self, request: Any, view_func: Any, view_args: Any, view_kwargs: Any) -> None:
        _restore_user(request)


def _request_view(request: Any) -> RequestView:
    scope = getattr(request, "scope", None)
    if isinstance(scope, Mapping):  # ASGIRequest (uvicorn, AsyncClient): judge the ASGI path
        return request_from_scope(scope)
    return request_from_environ(request.environ)  # WSGIRequest and the test Client


def _outer_decision(request: Any, guard: Guard) -> Decision | None:
    """The decision of an ``ASGIGuard``/``WSGIGuard`` of the same policy around Django, if any."""
    carrier = _carrier(request)
    if not isinstance(carrier, Mapping) or carrier.get("routeguard.guard") is not guard:
        return None
    decision = carrier.get("routeguard.decision")
    return decision if isinstance(decision, Decision) and decision.allowed else None


def _http_response(response: Response, view: RequestView) -> Any:
    from django.http import HttpResponse

    out = HttpResponse(b"" if view.method == "HEAD" else response.body, status=response.status)
    for name, value in response.headers:
        out.headers[name] = value
    return out


def _carrier(request: Any) -> Any:
    scope = getattr(request, "scope", None)
    return scope if isinstance(scope, Mapping) else getattr(request, "environ", None)


def _admit(request: Any, decision: Decision, guard: Guard) -> None:
    """Hand the allowed request's identity to Django: ``request.user`` and ``request.auser``."""
    identity = decision.identity
    request.routeguard_identity = identity
    request.routeguard_decision = decision
    carrier = _carrier(request)
    if carrier is not None:  # as ASGIGuard/WSGIGuard do: routeguard.logout() finds the credential
        carrier["routeguard.identity"] = identity
        carrier["routeguard.decision"] = decision
        carrier["routeguard.guard"] = guard
    if identity is None:
        return  # anonymous on a public rule: Django's own AuthenticationMiddleware decides
    from django.utils.functional import SimpleLazyObject

    request._routeguard_user = (SimpleLazyObject(partial(django_user, identity)), partial(_auser, identity))
    _restore_user(request)


def _restore_user(request: Any) -> None:
    chosen = getattr(request, "_routeguard_user", None)
    if chosen is not None:
        request.user, request.auser = chosen


def logout(request: Any) -> LogoutResult:
    """Revoke the credential of this request on the store (sync; Django runs sync views in a
    thread under ASGI). Call it beside Django's own ``logout(request)``: with ``signed_cookies``
    sessions it is what makes a copied cookie useless; with bearer tokens it denies the ``jti``."""
    carrier = _carrier(request)
    decision = carrier.get("routeguard.decision") if carrier is not None else None
    guard = carrier.get("routeguard.guard") if carrier is not None else None
    if not isinstance(decision, Decision) or not isinstance(guard, Guard):
        raise RouteGuardError("this request did not pass through RouteGuardMiddleware")
    return run_sync(logout_flow(guard, _request_view(request), decision.credential))


async def _auser(identity: Identity) -> Any:
    from asgiref.sync import sync_to_async

    return await sync_to_async(django_user)(identity)


# -- users and identities ----------------------------------------------------------------------
class GuardUser:
    """An authenticated, user-like object for an identity with no Django account (an API client).

    Answers like ``django.contrib.auth.models.User`` where views and DRF ask: ``is_authenticated``,
    ``get_username()``, ``is_staff``/``is_superuser`` (the ``staff``/``superuser`` roles) and
    ``has_perm`` (the identity's permissions, ``app_label.codename``).
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    pk = None
    id = None

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.username = identity.subject

    def __str__(self) -> str:
        return self.username

    def __repr__(self) -> str:
        return f"GuardUser({self.username!r})"

    def get_username(self) -> str:
        """The identity's subject."""
        return self.username

    @property
    def is_staff(self) -> bool:
        """The identity holds the ``staff`` role."""
        return "staff" in self.identity.roles

    @property
    def is_superuser(self) -> bool:
        """The identity holds the ``superuser`` role."""
        return "superuser" in self.identity.roles

    def get_all_permissions(self, obj: Any = None) -> set[str]:
        """The identity's permissions."""
        return set(self.identity.permissions)

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        """Whether the identity holds ``perm`` (a superuser holds every permission)."""
        return self.is_superuser or perm in self.identity.permissions

    def has_perms(self, perm_list: Any, obj: Any = None) -> bool:
        """Whether the identity holds every permission in ``perm_list``."""
        return all(self.has_perm(perm, obj) for perm in perm_list)

    def has_module_perms(self, app_label: str) -> bool:
        """Whether the identity holds any permission of ``app_label``."""
        return self.is_superuser or any(p.startswith(app_label + ".") for p in self.identity.permissions)


def django_user(identity: Identity) -> Any:
    """The Django user whose ``USERNAME_FIELD`` is the subject, else a :class:`GuardUser` (sync)."""
    from django.contrib.auth import get_user_model

    model = get_user_model()
    try:
        return model._default_manager.get_by_natural_key(identity.subject)
    except model.DoesNotExist:
        return GuardUser(identity)


def django_identity(user: Any, backend: str = "django") -> Identity:
    """The identity of a Django user: subject ``get_username()``, roles its group names plus
    ``staff``/``superuser``, permissions ``get_all_permissions()`` (sync: queries the ORM)."""
    roles = set(user.groups.values_list("name", flat=True)) if hasattr(user, "groups") else set()
    if getattr(user, "is_staff", False):
        roles.add("staff")
    if getattr(user, "is_superuser", False):
        roles.add("superuser")
    permissions = user.get_all_permissions() if hasattr(user, "get_all_permissions") else ()
    return Identity.of(str(user.get_username()), roles=roles, permissions=permissions, backend=backend)


def _load_identity(subject: str) -> Identity | None:
    from django.contrib.auth import get_user_model

    model = get_user_model()
    try:
        user = model._default_manager.get_by_natural_key(subject)
    except model.DoesNotExist:
        return None
    if not getattr(user, "is_active", True):
        return None
    return django_identity(user)


def load_identity(subject: str) -> Identity | Awaitable[Identity | None] | None:
    """Identity loader reloading the Django user by subject (disabled or unknown: refused):
    ``[auth] identity_loader = "routeguard.integrations.django:load_identity"``.

    On an event loop (ASGI) it returns an awaitable that runs the ORM query in asgiref's
    thread, so the loader works under uvicorn as well as under a WSGI server.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _load_identity(subject)
    from asgiref.sync import sync_to_async

    return sync_to_async(_load_identity)(subject)


# -- Django's session as a credential ----------------------------------------------------------
class DjangoSessionBackend:
    """``[auth.session] format = "django"``: the user Django's own ``login()`` put in the session.

    Reads ``SESSION_COOKIE_NAME``, loads the session with ``SESSION_ENGINE``'s ``SessionStore``
    and the user with the session's auth backend, as ``django.contrib.auth.get_user`` does,
    without ever modifying the session.
    """

    name = "session"
    cookie_based = True  # CSRF origin checks apply, as for every cookie credential

    def authenticate(self, request: RequestView) -> Generator[Effect, Any, Credential | None] | None:
        """A flow loading the session (off the event loop under ASGI), or None without a cookie."""
        from django.conf import settings

        value = request.cookie(settings.SESSION_COOKIE_NAME)
        if not value:
            return None
        return self._flow(value)

    def _flow(self, value: str) -> Generator[Effect, Any, Credential | None]:
        credential: Credential | None = yield Effect(self.load, self._aload, (value,))
        return credential

    async def _aload(self, session_key: str) -> Credential | None:
        from asgiref.sync import sync_to_async

        return await sync_to_async(self.load)(session_key)

    def load(self, session_key: str) -> Credential | None:
        """The credential of one session key (sync: runs the session engine and the ORM)."""
        from django.conf import settings
        from django.contrib import auth
        from django.core.exceptions import SuspiciousOperation, ValidationError
        from django.utils.crypto import constant_time_compare

        try:
            data = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()
        except SuspiciousOperation:
            raise AuthenticationError("malformed session") from None
        if not data:  # Django never stores an empty session: unknown, expired or forged
            raise AuthenticationError("session unknown or expired")
        if auth.SESSION_KEY not in data:
            return None  # a session without a login (a cart, a language): anonymous
        try:
            user_id = auth.get_user_model()._meta.pk.to_python(data[auth.SESSION_KEY])
            backend_path = data[auth.BACKEND_SESSION_KEY]
        except (KeyError, ValidationError):
            raise AuthenticationError("malformed session") from None
        if backend_path not in settings.AUTHENTICATION_BACKENDS:
            raise AuthenticationError("session's auth backend is not configured", genuine=True)
        user = auth.load_backend(backend_path).get_user(user_id)
        if user is None:  # ModelBackend also answers None for an inactive user
            raise AuthenticationError("user unknown or disabled", genuine=True)
        if hasattr(user, "get_session_auth_hash"):
            session_hash = data.get(auth.HASH_SESSION_KEY)
            fallbacks = getattr(user, "get_session_auth_fallback_hash", lambda: ())()
            if not session_hash or not (
                constant_time_compare(session_hash, user.get_session_auth_hash())
                or any(constant_time_compare(session_hash, h) for h in fallbacks)
            ):
                raise AuthenticationError("session no longer valid (password changed)", genuine=True)
        if not getattr(user, "is_active", True):
            raise AuthenticationError("user disabled", genuine=True)
        digest = hashlib.sha256(session_key.encode("utf-8", "surrogateescape")).hexdigest()
        return Credential(
            django_identity(user, backend=self.name),
            revocation_key=f"django:{digest}",
            expires_at=time.time() + int(settings.SESSION_COOKIE_AGE),
        )


def session_backend(config: SessionConfig, store: Store) -> DjangoSessionBackend:
    """Build ``[auth.session] format = "django"`` (the format registry's factory)."""
    try:
        import_module("django.contrib.auth")
    except ImportError:
        raise PolicyError("auth.session: format = 'django' needs Django (pip install 'routeguard[django]')") from None
    return DjangoSessionBackend()


# -- around the server entry point -------------------------------------------------------------
def guard_wsgi(application: WSGIApp) -> WSGIGuard:
    """``application = guard_wsgi(get_wsgi_application())`` in ``wsgi.py``."""
    return WSGIGuard(application, policy=settings_policy())


def guard_asgi(application: ASGIApp) -> ASGIGuard:
    """``application = guard_asgi(get_asgi_application())`` in ``asgi.py``."""
    return ASGIGuard(application, policy=settings_policy())
