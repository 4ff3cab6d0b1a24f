"""The failed-login throttle for Django (RG-2026-13), wired the way django-axes is.

``authenticate()`` sends ``user_login_failed`` for a wrong password: that counts a failure per
client and per username (``USERNAME_FIELD``); ``user_logged_in`` resets the username. The
middleware reads the username of a POST to ``LOGIN_URL`` (:func:`login_usernames`), so a
locked client or username gets 429 with ``Retry-After`` before the login view runs. No app
code is needed beyond ``RouteGuardMiddleware``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.request import RequestView
from ..runtime.audit import logger
from ..runtime.effects import run_sync
from ..runtime.guard import Guard
from ..runtime.throttle import MAX_LOGIN_BODY, Throttle

_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def connect() -> None:
    """Listen to Django's login signals (idempotent)."""
    from django.contrib.auth.signals import user_logged_in, user_login_failed

    user_login_failed.connect(_failed, dispatch_uid="routeguard.login_failed")
    user_logged_in.connect(_succeeded, dispatch_uid="routeguard.login_succeeded")


def login_usernames(request: Any, view: RequestView, guard: Guard) -> tuple[str, ...] | None:
    """The username(s) a POST to ``login_url`` names: the first and the last of a repeated
    field (Django buffers the body and parses forms, multipart included, once for the view too)."""
    throttle = guard.throttle
    if throttle is None or not throttle.is_login_post(view):
        return ()
    field = throttle.config.username_field
    if (request.content_type or "") in _FORMS:
        values = [v for v in request.POST.getlist(field) if isinstance(v, str)]
        return tuple(dict.fromkeys((values[0], values[-1]))) if values else ()
    body = request.body
    return throttle.usernames(view, body if len(body) <= MAX_LOGIN_BODY else None)


def _throttle_of(request: Any) -> tuple[Throttle, RequestView] | None:
    """The throttle of the guard that admitted ``request``, and the request as it judged it."""
    from .django import _carrier, _request_view

    carrier = _carrier(request)
    guard = carrier.get("routeguard.guard") if isinstance(carrier, Mapping) else None
    if not isinstance(guard, Guard) or guard.throttle is None:
        return None
    return guard.throttle, _request_view(request)


def _failed(sender: Any, credentials: Mapping[str, Any], request: Any = None, **_: Any) -> None:
    """``user_login_failed``: count the failure (a store error propagates: fail closed)."""
    from django.contrib.auth import get_user_model

    found = _throttle_of(request) if request is not None else None
    if found is None:
        return
    throttle, view = found
    username = credentials.get(get_user_model().USERNAME_FIELD, credentials.get("username"))
    if isinstance(username, str) and username:
        run_sync(throttle.login_failed(throttle.client(view), username))


def _succeeded(sender: Any, request: Any = None, user: Any = None, **_: Any) -> None:
    """``user_logged_in``: reset the username's failed logins."""
    found = _throttle_of(request) if request is not None else None
    if found is None or user is None:
        return
    try:
        run_sync(found[0].login_succeeded(user.get_username()))
    except Exception as exc:  # the counter only stays stricter: never fail the login for it
        logger.warning("could not reset failed logins: %s", type(exc).__name__)
