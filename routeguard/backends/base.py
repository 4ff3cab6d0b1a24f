"""The backend protocol: find credentials in a request, prove them, or say there are none."""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Generator, Mapping
from typing import Any, Final, Literal, Protocol, runtime_checkable

from ..core.identity import Credential as Credential  # re-exported: routeguard.backends.base.Credential
from ..core.request import RequestView
from ..errors import AmbiguousCookieError, AuthenticationError
from ..runtime.cache import TTLCache
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


#: What a signed-cookie backend's cache holds per ``Cookie`` header: the credential of its
#: cookie, in a 1-tuple ((None,): a genuine cookie without a user).
CookieCache = TTLCache[tuple[Credential | None]]
COOKIE_ENTRY_OVERHEAD: Final = 512  # bytes a cached cookie credential costs besides the header


#: The ``credential_headers`` of a backend whose credential is a cookie.
COOKIE_HEADERS: Final = frozenset({"cookie"})


def cookie_cache(entries: int, max_bytes: int, clock: Callable[[], float]) -> CookieCache:
    """The verified-cookie cache of a signed-cookie backend: keyed on the whole ``Cookie``
    header value (what a request's cookies prove depends on that header alone, and ``quick``
    then finds it with one lookup), until the cookie's signing time plus ``max_age``; bounded in
    entries and bytes."""
    return TTLCache(entries, clock, maxbytes=max_bytes)


def remember_cookie(cache: CookieCache, header: str, credential: Credential | None, until: float) -> None:
    """Cache what ``header`` (a whole ``Cookie`` header) proved, until ``until``."""
    cache.set(header, (credential,), until, size=2 * len(header) + COOKIE_ENTRY_OVERHEAD)


def cookie_quick(name: str, cache: CookieCache) -> Callable[[Mapping[str, str]], QuickResult]:
    """The ``quick`` of a signed-cookie backend: the cached credential of cookie ``name`` in a
    request's headers (one C-level partial, one Python frame per request)."""
    return functools.partial(cached_cookie, name=name, cache=cache)


def cached_cookie(headers: Mapping[str, str], *, name: str, cache: CookieCache) -> QuickResult:
    """``quick`` for a signed-cookie backend (see :func:`cookie_cache`)."""
    raw = headers.get("cookie")
    if not raw or name not in raw:  # as RequestView.cookie reads it
        return None
    cached = cache.get(raw)
    return UNSURE if cached is None else cached[0]
