"""Custom backends: any object with ``authenticate(request)``, sync or async.

The protocol, in full::

    class MyBackend:
        name = "my-backend"                    # shown in logs and Identity.backend
        def authenticate(self, request: RequestView) -> Identity | None: ...
        # or: async def authenticate(self, request) -> Identity | None
        cookie_based: bool                     # optional, see below

Return None when the request carries none of your credentials, an :class:`Identity` (or a
:class:`Credential`) when it does, and raise :class:`routeguard.AuthenticationError` when a
credential is present but invalid (the client gets 401 ``invalid_token``). Any other exception
also refuses the request. A plain function ``f(request)`` works as a backend too.

The guard runs ``authenticate`` as a hook (:mod:`routeguard.runtime.hooks`): under the
``[hooks] timeout`` deadline (503 when missed), in a worker thread under ASGI when it is sync.

Cookie-based: read cookies through the view (``request.cookie(name)`` or
``request.headers.get("cookie")``). A backend that read a cookie when it authenticated the
request is cookie-based: unsafe methods and websocket handshakes get the CSRF origin check, and
the cookies it read are withheld from the app when its credential is rejected. ``cookie_based =
True`` declares it whatever was read; ``cookie_based = False`` opts out of the CSRF check, for a
cookie that can never authenticate on its own (a custom header is required too).

To make ``routeguard.logout`` able to revoke your credential, return a :class:`Credential`
with a ``revocation_key`` (unique per credential, e.g. ``"mytoken:" + sha256(token)``) and its
``expires_at``: the key is then deny-listed on the store until then and refused on every
worker. An :class:`Identity` alone cannot be revoked (``logout`` logs a warning and reports
``revoked=False``)::

    return Credential(Identity.of(user), revocation_key="mytoken:" + digest, expires_at=exp)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.request import RequestView
from ..errors import PolicyError


class FunctionBackend:
    """Adapts a function ``f(request) -> Identity | None`` (sync or async) to the protocol."""

    def __init__(self, function: Callable[[RequestView], Any], name: str | None = None) -> None:
        self.function = function
        self.name = name or getattr(function, "__name__", "custom")

    def authenticate(self, request: RequestView) -> Any:
        """Call the function."""
        return self.function(request)


def as_backend(target: Any) -> Any:
    """A backend from an object with ``authenticate``, a class (instantiated) or a function."""
    if isinstance(target, type):
        try:
            target = target()
        except TypeError as exc:
            raise PolicyError(f"auth.custom: cannot instantiate {target.__name__} without arguments ({exc})") from None
    if callable(getattr(target, "authenticate", None)):
        if not isinstance(getattr(target, "name", None), str):
            try:
                target.name = type(target).__name__
            except AttributeError:
                raise PolicyError("auth.custom: a backend needs a string 'name' attribute") from None
        return target
    if callable(target):
        return FunctionBackend(target)
    raise PolicyError(f"auth.custom: {target!r} has no authenticate(request) method")
