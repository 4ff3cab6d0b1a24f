"""The backend protocol: find credentials in a request, prove them, or say there are none."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Protocol, runtime_checkable

from ..core.identity import Credential as Credential  # re-exported: routeguard.backends.base.Credential
from ..core.request import RequestView
from ..errors import AmbiguousCookieError, AuthenticationError
from ..runtime.effects import Effect

#: What a backend's ``authenticate`` returns: no credentials (None), a verified credential,
#: or a flow that performs I/O (key fetch, store lookup) before returning one of those.
BackendResult = Credential | None | Generator[Effect, Any, "Credential | None"]


@runtime_checkable
class Backend(Protocol):
    """An authentication source. Raise :class:`routeguard.AuthenticationError` for a credential
    that is present but invalid; return None when the request carries none of yours."""

    name: str

    def authenticate(self, request: RequestView) -> BackendResult:
        """Verify this backend's credentials in ``request``."""
        ...


def request_cookie(request: RequestView, name: str) -> str | None:
    """``request.cookie(name)`` for a backend: a cookie sent twice with different values is an
    invalid credential (:class:`AuthenticationError`)."""
    try:
        return request.cookie(name)
    except AmbiguousCookieError as exc:
        raise AuthenticationError(str(exc)) from None
