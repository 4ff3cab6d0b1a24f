"""The backend protocol: find credentials in a request, prove them, or say there are none."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..core.identity import Identity
from ..core.request import RequestView
from ..runtime.effects import Effect


@dataclass(frozen=True, slots=True)
class Credential:
    """A verified credential: the identity it proves and how to revoke it.

    ``revocation_key`` names the credential on the store's deny list (``jti:<id>``,
    ``cookie:<digest>``); ``expires_at`` (epoch seconds) bounds how long a revocation must
    last; ``session_key`` is the store key of a server-side session (deleted at logout).
    ``logout_key`` names a per-subject "not before" time set at logout: credentials of that
    subject ``issued_at`` an earlier second are refused (every copy of a stateless cookie).
    ``from_cookie`` says this request carried it in a cookie (a JWT in a cookie): the CSRF
    origin check applies to it as to every cookie credential.
    """

    identity: Identity
    revocation_key: str | None = None
    expires_at: float | None = None
    session_key: str | None = None
    issued_at: float | None = None
    logout_key: str | None = None
    from_cookie: bool = False


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
