"""The backend protocol: find credentials in a request, prove them, or say there are none."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from ..core.identity import Credential as Credential  # re-exported: routeguard.backends.base.Credential
from ..core.request import RequestView, cookie_values
from ..errors import AmbiguousCookieError, AuthenticationError
from ..runtime.effects import Effect

if TYPE_CHECKING:
    from ..runtime.cache import TTLCache

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


class Quick(enum.Enum):
    """What a backend's ``quick`` answers when only ``authenticate`` can tell."""

    UNSURE = "unsure"


UNSURE: Literal[Quick.UNSURE] = Quick.UNSURE

#: What a backend's optional ``quick(headers)`` returns (the guard's plain lane,
#: :mod:`routeguard.runtime.lane`): None when the headers carry none of its credentials, a
#: credential it already verified (cached), or UNSURE. It never verifies, raises or does I/O.
#: A backend with ``quick`` also names ``credential_headers``: the (lower-case) headers its
#: credentials come in; without any of them, ``quick`` (and ``authenticate``) find nothing.
QuickResult = Credential | None | Literal[Quick.UNSURE]


def cached_cookie(headers: Mapping[str, str], name: str, cache: TTLCache[tuple[Credential | None]],
                  now: float) -> QuickResult:
    """``quick`` for a backend that caches its verified cookies by SHA-256 digest of the value,
    wrapped in a 1-tuple ((None,): a genuine cookie without a user). A cookie sent twice is
    left to ``authenticate`` (it may be ambiguous)."""
    raw = headers.get("cookie")
    if not raw or name not in raw:  # as RequestView.cookie reads it
        return None
    values = cookie_values(raw, name)
    if not values:
        return None
    if len(values) > 1:
        return UNSURE
    cached = cache.get(hashlib.sha256(values[0].encode("utf-8", "surrogateescape")).digest(), now)
    return UNSURE if cached is None else cached[0]
