"""The authenticated identity the guard hands to the app, and the verified credential behind it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ._empty import EMPTY


@dataclass(frozen=True, slots=True)
class Identity:
    """Who made the request, as established by one authentication backend.

    It also satisfies Starlette's ``BaseUser`` protocol, so ``request.user.is_authenticated``
    and ``request.user.display_name`` work behind :class:`routeguard.ASGIGuard`::

        Identity(subject="alice", roles=frozenset({"admin"}), backend="bearer")
    """

    subject: str
    roles: frozenset[str] = frozenset()
    permissions: frozenset[str] = frozenset()
    tenants: frozenset[str] = frozenset()
    claims: Mapping[str, Any] = field(default=EMPTY, compare=False)
    backend: str = ""

    @classmethod
    def of(
        cls,
        subject: str,
        roles: Iterable[str] = (),
        permissions: Iterable[str] = (),
        tenants: Iterable[str] = (),
        claims: Mapping[str, Any] | None = None,
        backend: str = "",
    ) -> Identity:
        """Build an identity from any iterables: ``Identity.of("bob", roles=["user"])``."""
        return cls(
            subject=str(subject),
            roles=frozenset(roles),
            permissions=frozenset(permissions),
            tenants=frozenset(tenants),
            claims=MappingProxyType(dict(claims)) if claims else EMPTY,
            backend=backend,
        )

    # Starlette BaseUser protocol -------------------------------------------------------------
    @property
    def is_authenticated(self) -> bool:
        """Always true: an anonymous request has no Identity at all."""
        return True

    @property
    def display_name(self) -> str:
        """The subject, for Starlette's ``request.user.display_name``."""
        return self.subject

    @property
    def identity(self) -> str:
        """The subject, for Starlette's ``request.user.identity``."""
        return self.subject

    @property
    def scopes(self) -> list[str]:
        """Starlette auth scopes: ``authenticated`` plus every role and permission."""
        return list(auth_scopes((self.roles, self.permissions)))

    def __repr__(self) -> str:  # claims may carry personal data; keep reprs short
        return (
            f"Identity(subject={self.subject!r}, roles={sorted(self.roles)!r}, "
            f"permissions={sorted(self.permissions)!r}, tenants={sorted(self.tenants)!r}, "
            f"backend={self.backend!r})"
        )


@dataclass(frozen=True, slots=True)
class Credential:
    """A verified credential: the identity it proves and how to revoke it.

    ``revocation_key`` names the credential on the store's deny list (``jti:<id>``,
    ``cookie:<digest>``); ``expires_at`` (epoch seconds) bounds how long a revocation must
    last; ``session_key`` is the store key of a server-side session (deleted at logout).
    ``logout_key`` names a per-subject "not before" time set at logout: credentials of that
    subject ``issued_at`` an earlier second are refused (every copy of a stateless cookie).
    """

    identity: Identity
    revocation_key: str | None = None
    expires_at: float | None = None
    session_key: str | None = None
    issued_at: float | None = None
    logout_key: str | None = None


def auth_scopes(key: tuple[frozenset[str], frozenset[str]]) -> tuple[str, ...]:
    """Starlette auth scopes for ``(roles, permissions)``: ``authenticated`` plus each, sorted."""
    roles, permissions = key
    return ("authenticated", *sorted(roles), *sorted(permissions))
