"""Bearer tokens from several issuers (``[[auth.bearer]]``), each with its own keys and claims.

Defends against one issuer's keys vouching for another's tokens: the token's ``iss`` (read
strictly, before verification) picks exactly one configuration, whose key source, algorithms,
audience and claim mapping then verify it, and whose ``issuer`` pyjwt checks again. A token
from an issuer that is not configured is refused before any key is fetched or any signature
checked, so unknown issuers cannot make the guard call a key server. Revocation by ``jti`` is
kept per issuer: a partner's token cannot revoke a workforce token by reusing its ``jti``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Sequence
from typing import Any

from ..core.request import RequestView
from ..errors import AuthenticationError, PolicyError
from ..runtime.effects import Effect
from .base import Credential
from .bearer import BearerBackend, unverified_parts


class IssuerBearerBackend:
    """Routes each bearer token to the :class:`BearerBackend` of its issuer.

    ``IssuerBearerBackend([BearerBackend(issuer="https://a", ...), BearerBackend(issuer="https://b", ...)])``;
    every backend names its issuer and finds tokens the same way (header, cookie, subprotocol).
    """

    name = "bearer"

    def __init__(self, backends: Sequence[BearerBackend]) -> None:
        if not backends:
            raise PolicyError("auth.bearer: an empty list of issuers")
        self.backends = tuple(backends)
        self._by_issuer: dict[str, BearerBackend] = {}
        for backend in self.backends:
            names = [backend.issuer] if isinstance(backend.issuer, str) else list(backend.issuer or ())
            if not names:
                raise PolicyError("auth.bearer: with several issuers, each [[auth.bearer]] names its issuer")
            backend.jti_prefix = f"jti:{hashlib.sha256(names[0].encode()).hexdigest()[:16]}:"
            for issuer in names:
                if issuer in self._by_issuer:
                    raise PolicyError(f"auth.bearer.issuer: {issuer!r} is configured twice")
                self._by_issuer[issuer] = backend
        self._finder = self.backends[0]
        self.websocket_subprotocol = self._finder.websocket_subprotocol

    def authenticate(self, request: RequestView) -> Credential | Generator[Effect, Any, Credential] | None:
        """The credential verified by the token issuer's configuration; None without a token."""
        found = self._finder.token(request)
        if found is None:
            return None
        token = found[0]
        issuer = unverified_parts(token)[1].get("iss")
        backend = self._by_issuer.get(issuer) if isinstance(issuer, str) else None
        if backend is None:
            raise AuthenticationError("unknown issuer")
        return backend.finish(*found, request)
