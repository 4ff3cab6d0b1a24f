"""Flask: ``RouteGuard(app)``, and Flask-Login's session and remember cookie as credentials.

    app.config["ROUTEGUARD_POLICY"] = "routeguard.toml"      # a path or a Policy
    RouteGuard(app)                                            # or RouteGuard().init_app(app)

The guard wraps ``app.wsgi_app`` (the test client goes through it too). On an allowed request
the identity is ``flask.g.routeguard_identity`` and, when Flask-Login is used, ``current_user``:
the app's own ``user_loader(subject)`` result, or a :class:`GuardUser` when it returns None
(an API client without an account). It works whether ``RouteGuard(app)`` comes before or after
``LoginManager(app)``: the user is set at the start of each request, as ``login_user`` does.

``[auth.session] format = "flask-login"`` reads what Flask-Login keeps: the user id in the
signed Flask session (``_user_id``; 0.4's ``user_id``) or, without one, its ``remember_token``
cookie (``<user id>|<HMAC-SHA512>``, keyed with the app's secret). A remember cookie that is
presented but does not verify is an invalid credential (401), as for every other credential,
although Flask-Login itself would treat the request as anonymous; after ``logout_user()``
(``_remember = "clear"`` in the session) the remember cookie is ignored, as Flask-Login does.
The secret is ``secret_env`` as for ``format = "flask"``, or, wired through ``RouteGuard(app)``,
the app's ``secret_key`` (and ``SECRET_KEY_FALLBACKS``), cookie names and session lifetime.

The policy's ``login_url`` wins; without one, Flask-Login's ``login_view`` is the login page.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterable, Sequence
from os import PathLike
from typing import Any, Final

from ..backends.base import Credential
from ..backends.session import SessionCookieBackend
from ..core.identity import Identity
from ..core.request import RequestView
from ..errors import AuthenticationError, PolicyError
from ..policy.auth import SessionConfig
from ..policy.build import runtime_for, session_secrets
from ..policy.model import Policy
from ..stores import Store
from ..wsgi import Environ, StartResponse, WSGIApp, WSGIGuard

__all__ = ["FlaskLoginBackend", "GuardUser", "RouteGuard", "policy_for_app", "session_backend"]

#: Flask-Login's default remember cookie lifetime (``REMEMBER_COOKIE_DURATION``): how long a
#: revoked remember cookie stays on the deny list.
REMEMBER_DURATION: Final = 365 * 24 * 3600.0
_CLEARED: Final = "clear"


class FlaskLoginBackend:
    """``[auth.session] format = "flask-login"``: Flask-Login's session user, else its remember cookie."""

    name = "session"
    cookie_based = True  # CSRF origin checks apply, as for every cookie credential

    def __init__(
        self,
        *,
        secrets: Sequence[str | bytes] = (),
        cookie: str = "session",
        remember_cookie: str = "remember_token",
        max_age: int | None = None,
        roles_key: str = "roles",
        permissions_key: str = "permissions",
        tenants_key: str = "tenants",
        cookie_fixed: bool = False,
    ) -> None:
        self.cookie = cookie
        self.remember_cookie = remember_cookie
        self.max_age = max_age
        self._keys = (roles_key, permissions_key, tenants_key)
        self._cookie_fixed = cookie_fixed
        self._session: SessionCookieBackend | None = None
        self._remember_keys: tuple[bytes, ...] = ()
        if secrets:
            self._use(secrets)

    def _use(self, secrets: Sequence[str | bytes]) -> None:
        roles_key, permissions_key, tenants_key = self._keys
        self._session = SessionCookieBackend(format="flask", secrets=secrets, cookie=self.cookie,
                                             max_age=self.max_age, user_key="_user_id", roles_key=roles_key,
                                             permissions_key=permissions_key, tenants_key=tenants_key)
        # Flask-Login keys its HMAC with SECRET_KEY encoded as latin-1.
        self._remember_keys = tuple(s if isinstance(s, bytes) else s.encode("latin-1", "replace") for s in secrets)

    @property
    def bound(self) -> bool:
        """Whether the backend has its secret (from the policy or from the app)."""
        return self._session is not None

    def bind(self, app: Any) -> None:
        """Take the app's ``secret_key`` (when the policy names no secret), cookie names and
        session lifetime: what Flask and Flask-Login write with."""
        config = app.config
        if not self._cookie_fixed:
            self.cookie = config.get("SESSION_COOKIE_NAME") or self.cookie
        self.remember_cookie = config.get("REMEMBER_COOKIE_NAME") or self.remember_cookie
        if self.max_age is None:
            self.max_age = int(app.permanent_session_lifetime.total_seconds())
        if self._session is None:
            if not app.secret_key:
                raise PolicyError("auth.session: format = 'flask-login' needs the app's secret_key (or secret_env)")
            self._use([app.secret_key, *(config.get("SECRET_KEY_FALLBACKS") or ())])

    def authenticate(self, request: RequestView) -> Credential | None:
        """The session's user, else the remember cookie's; None when neither is present."""
        session_backend = self._session
        if session_backend is None:
            raise PolicyError("auth.session: format = 'flask-login' has no secret: wire it with RouteGuard(app)")
        value = request.cookie(self.cookie)
        if value is not None:
            session, signed_at = session_backend.load(value)
            user_id = session.get("_user_id", session.get("user_id"))  # Flask-Login 0.4 wrote "user_id"
            if user_id is not None and user_id != "":
                return session_backend._credential({**session, "_user_id": user_id}, value, signed_at)
            if session.get("_remember") == _CLEARED:
                return None  # logged out: Flask-Login ignores the remember cookie until it is deleted
        remembered = request.cookie(self.remember_cookie)
        return None if remembered is None else self._remembered(remembered)

    def _remembered(self, cookie: str) -> Credential:
        payload, sep, digest = cookie.rpartition("|")
        if not sep or not payload:
            raise AuthenticationError("malformed remember cookie")
        message = payload.encode("utf-8", "surrogateescape")
        presented = digest.encode("ascii", "replace")
        if not any(
            hmac.compare_digest(hmac.new(key, message, hashlib.sha512).hexdigest().encode(), presented)
            for key in self._remember_keys
        ):
            raise AuthenticationError("bad remember cookie signature")
        signed = hashlib.sha256(message + b"|" + presented).hexdigest()
        return Credential(Identity(subject=payload, backend=self.name), revocation_key=f"remember:{signed}",
                          expires_at=time.time() + REMEMBER_DURATION)


def session_backend(config: SessionConfig, store: Store) -> FlaskLoginBackend:
    """Build ``[auth.session] format = "flask-login"`` (the format registry's factory)."""
    return FlaskLoginBackend(secrets=session_secrets(config), cookie=config.cookie, max_age=config.max_age,
                             roles_key=config.roles_key, permissions_key=config.permissions_key,
                             tenants_key=config.tenants_key, cookie_fixed="cookie" in config.model_fields_set)


class GuardUser:
    """A Flask-Login user for an identity the app's ``user_loader`` does not know (an API client)."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.id = identity.subject

    def get_id(self) -> str:
        """The identity's subject."""
        return self.id

    def __repr__(self) -> str:
        return f"GuardUser({self.id!r})"


def load_policy(source: Any, where: str) -> Policy:
    """A Policy from a Policy or a TOML path."""
    if isinstance(source, Policy):
        return source
    if isinstance(source, str | PathLike):
        return Policy.from_toml(source)
    raise PolicyError(f"{where} must be a Policy or the path of a TOML policy file")


def login_view_path(app: Any) -> str | None:
    """Flask-Login's ``login_view`` as a path (an endpoint name is built with the URL map)."""
    view = getattr(getattr(app, "login_manager", None), "login_view", None)
    if not view:
        return None
    if "/" in view:
        return str(view)
    return str(app.url_map.bind("localhost").build(view))


def bind_backends(backends: Iterable[Any], app: Any) -> None:
    """Give Flask-Login backends the app's secret and cookie names."""
    for backend in backends:
        if isinstance(backend, FlaskLoginBackend):
            backend.bind(app)


def policy_for_app(policy: Policy, app: Any) -> Policy:
    """``policy`` with Flask-Login's ``login_view`` as its login page when it names none, and
    its Flask-Login backends bound to the app."""
    if policy.login_url is None:
        login = login_view_path(app)
        if login is not None:
            policy = policy.model_copy(update={"login_url": login})
    bind_backends(runtime_for(policy).backends, app)
    return policy


class _LazyGuard:
    """``app.wsgi_app``: the guard, built at the first request, once ``LoginManager(app)`` and
    its ``login_view`` exist whichever order the app set them up in."""

    def __init__(self, app: Any, wsgi_app: WSGIApp, policy: Policy) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.policy = policy
        self.guard: WSGIGuard | None = None
        self._lock = threading.Lock()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        guard = self.guard
        if guard is None:
            with self._lock:
                guard = self.guard
                if guard is None:
                    guard = self.guard = WSGIGuard(self.wsgi_app, policy=policy_for_app(self.policy, self.app))
        return guard(environ, start_response)


class RouteGuard:
    """The Flask extension: ``RouteGuard(app)`` or ``RouteGuard().init_app(app)``.

    Reads ``app.config["ROUTEGUARD_POLICY"]`` (a path or a :class:`Policy`) unless a ``policy``
    is given here.
    """

    def __init__(self, app: Any = None, *, policy: Policy | str | PathLike[str] | None = None) -> None:
        self.policy = policy
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Any) -> None:
        """Wrap ``app.wsgi_app`` and hand each allowed request's identity to the app."""
        source = self.policy if self.policy is not None else app.config.get("ROUTEGUARD_POLICY")
        if source is None:
            raise PolicyError("app.config['ROUTEGUARD_POLICY'] is not set (a Policy or a TOML file path)")
        policy = load_policy(source, "ROUTEGUARD_POLICY")
        app.wsgi_app = _LazyGuard(app, app.wsgi_app, policy)
        app.extensions["routeguard"] = self
        app.before_request_funcs.setdefault(None, []).insert(0, _hand_over)


def _hand_over() -> None:
    """First ``before_request``: ``g.routeguard_identity`` and Flask-Login's ``current_user``."""
    from flask import current_app, g, request

    identity = request.environ.get("routeguard.identity")
    g.routeguard_identity = identity
    manager = getattr(current_app, "login_manager", None)
    if identity is None or manager is None:
        return  # anonymous on a public rule: Flask-Login decides from the session as usual
    loader = getattr(manager, "_user_callback", None)
    user = loader(identity.subject) if loader is not None else None
    g._login_user = user if user is not None else GuardUser(identity)  # what login_user() sets
