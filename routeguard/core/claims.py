"""Claims where identity providers put them: one lookup for tokens, cookies and sessions.

A claim name is first looked up as a literal top-level key (``"https://example.com/roles"``,
``"a.b"``), and only when there is none as a dotted path into nested objects
(``realm_access.roles``, ``resource_access.my-client.roles``, datasette's ``a.id``).

Defends against privilege from string splitting (RG-2026-19): a single string is one value for
every claim except permissions, so ``roles: "sales admin"`` is the one role ``sales admin``,
never ``admin``. Only the permissions claim (OAuth2 ``scope``) is space-separated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import AuthenticationError
from ._empty import EMPTY
from .identity import Identity


def lookup(data: Mapping[str, Any], name: str) -> Any:
    """The value named ``name`` in ``data`` (literal key first, then dotted path), or None."""
    if name in data:
        return data[name]
    if "." not in name:
        return None
    value: Any = data
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def claim_strings(value: Any, name: str, *, split: bool = False) -> frozenset[str]:
    """A claim holding a list of strings or one string; ``split`` (permissions only) splits
    that one string on spaces, as OAuth2 ``scope`` is written (RFC 6749 3.3: SP only; a tab,
    newline or Unicode space inside a scope token never splits it, RG-2026-32)."""
    if value is None:
        return frozenset()
    if isinstance(value, str):
        if split:
            return frozenset(part for part in value.split(" ") if part)
        return frozenset((value,)) if value else frozenset()
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    raise AuthenticationError(f"claim {name!r} is not a list of strings", genuine=True)  # signed: no guess


@dataclass(frozen=True, slots=True)
class ClaimMap:
    """Where the subject, roles, permissions and tenants are in a decoded token or cookie.

    ``ClaimMap(roles="realm_access.roles").identity(claims, backend="bearer")``.
    """

    subject: str = "sub"
    roles: str = "roles"
    permissions: str = "scope"
    tenants: str = "tenants"

    def subject_of(self, data: Mapping[str, Any], *, integers: bool = False) -> str | None:
        """The subject, None when absent or empty; ``integers`` accepts a numeric user id."""
        value = lookup(data, self.subject)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            return value
        if integers and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise AuthenticationError(f"claim {self.subject!r} is not a string", genuine=True)

    def identity(
        self, subject: str, data: Mapping[str, Any], backend: str, claims: Mapping[str, Any] | None = None
    ) -> Identity:
        """The identity of ``subject`` with roles, permissions and tenants read from ``data``."""
        return Identity(
            subject=subject,
            roles=claim_strings(lookup(data, self.roles), self.roles),
            permissions=claim_strings(lookup(data, self.permissions), self.permissions, split=True),
            tenants=claim_strings(lookup(data, self.tenants), self.tenants),
            claims=claims if claims is not None else EMPTY,
            backend=backend,
        )
