"""API keys in a configurable header, kept only as SHA-256 hashes and compared in constant time.

Defends against key disclosure from the policy (only digests are stored: API keys are long
random strings, so a fast hash is enough), timing attacks (every stored digest is compared with
``hmac.compare_digest``, without early exit) and oversized headers.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from ..core.identity import Identity
from ..core.request import RequestView
from ..errors import AuthenticationError, PolicyError
from .base import UNSURE, Credential, QuickResult
from .keys import DIGEST_PREFIX, parse_key_digest

_MAX_KEY: Final = 512


def hash_key(key: str) -> str:
    """The digest to put in the policy for ``key``: ``sha256:<hex>``."""
    return DIGEST_PREFIX + hashlib.sha256(key.encode()).hexdigest()


def new_key(prefix: str = "rg_") -> tuple[str, str]:
    """A fresh random API key and its digest: ``key, digest = new_key()``."""
    key = prefix + secrets.token_urlsafe(32)
    return key, hash_key(key)


@dataclass(frozen=True, slots=True)
class APIKey:
    """One accepted key: its digest and the identity it stands for."""

    digest: str
    identity: Identity

    @classmethod
    def parse_digest(cls, value: str) -> bytes:
        """``sha256:<64 hex>`` -> raw digest bytes (PolicyError otherwise)."""
        return parse_key_digest(value)


class APIKeyBackend:
    """Authenticates ``<header>: <key>`` against hashed keys.

    ``APIKeyBackend(header="X-API-Key", keys=[APIKey(hash_key(k), Identity.of("ci"))])``.
    """

    name = "api_key"

    def __init__(self, *, keys: Sequence[APIKey], header: str = "X-API-Key") -> None:
        self.header = header.lower()
        self.credential_headers = frozenset({self.header})
        self._entries = [(APIKey.parse_digest(k.digest), k.identity) for k in keys]
        if len({digest for digest, _ in self._entries}) != len(self._entries):
            raise PolicyError("auth.api_key: the same key hash is listed twice")

    def authenticate(self, request: RequestView) -> Credential | None:
        """The key's identity; None without the header; AuthenticationError for an unknown key."""
        value = request.headers.get(self.header)
        if value is None:
            return None
        found = self._credential(value)
        if isinstance(found, str):
            raise AuthenticationError(found)
        return found

    def quick(self, headers: Mapping[str, str]) -> QuickResult:
        """As :meth:`authenticate` (no I/O either way), UNSURE where it would raise."""
        value = headers.get(self.header)
        if value is None:
            return None
        found = self._credential(value)
        return UNSURE if isinstance(found, str) else found

    def _credential(self, value: str) -> Credential | str:
        """The credential of the presented key, or why it is refused."""
        value = value.strip()
        if not value or len(value) > _MAX_KEY:
            return "malformed api key"
        presented = hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()
        found: Identity | None = None
        for digest, identity in self._entries:  # no early exit: time does not depend on position
            if hmac.compare_digest(digest, presented):
                found = identity
        if found is None:
            return "unknown api key"
        return Credential(found, revocation_key="apikey:" + presented.hex()[:32])
