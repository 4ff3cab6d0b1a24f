"""One small key-value interface with expiry behind every store (memory, SQLite, Redis).

Revocations, server-side sessions and failed-credential counters are all keys with a TTL.
Each operation has a blocking form (WSGI) and an async form (ASGI); a store that fails raises
:class:`routeguard.ServiceUnavailableError`, which the guard turns into a refusal (503), never
an allow.
"""

from __future__ import annotations

import abc
import asyncio
from typing import Final
from urllib.parse import urlsplit

from ..runtime.effects import Effect

#: Key prefixes of the revocation ledger: revoked credentials and per-subject logout times.
#: Losing one of these keys lets a logged-out credential back in (losing a session or a failure
#: counter does not), so a shared store keeps them where a loss can be seen (the Redis store: in
#: one hash with a witness, so an eviction or a restart takes both together).
REVOKED: Final = "revoked:"
NOT_BEFORE: Final = "notbefore:"
LEDGER: Final = (REVOKED, NOT_BEFORE)


def masked(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


class Store(abc.ABC):
    """Keys with values (bytes) and an expiry; every method is safe to call from many threads."""

    url: str = ""
    local: bool = False  # True for an in-process store (no I/O): the guard reads it directly
    #: False while the store has never been given a value (``set``): no credential can be
    #: revoked or logged out yet, so the guard skips those lookups. Only a local store says so.
    holds_values: bool = True
    #: Epoch seconds: credentials issued before this are refused as logged out (set when the
    #: store detects that it lost its revocations; 0 while nothing was lost).
    not_before: float = 0.0

    @abc.abstractmethod
    def get(self, key: str) -> bytes | None:
        """The live value of ``key``, or None."""

    @abc.abstractmethod
    def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (a non-positive ttl deletes it)."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Forget ``key``."""

    @abc.abstractmethod
    def incr(self, key: str, ttl: float) -> int:
        """Add one to the counter ``key`` and return it; a new counter expires after ``ttl``."""

    @abc.abstractmethod
    def ttl(self, key: str) -> float | None:
        """Seconds until ``key`` expires, or None when it does not exist."""

    # Async forms: by default the blocking call runs in a worker thread, so the event loop
    # never waits on I/O. Stores with a native async client override these.
    async def aget(self, key: str) -> bytes | None:
        """Async :meth:`get`."""
        return await asyncio.to_thread(self.get, key)

    async def aset(self, key: str, value: bytes, ttl: float) -> None:
        """Async :meth:`set`."""
        await asyncio.to_thread(self.set, key, value, ttl)

    async def adelete(self, key: str) -> None:
        """Async :meth:`delete`."""
        await asyncio.to_thread(self.delete, key)

    async def aincr(self, key: str, ttl: float) -> int:
        """Async :meth:`incr`."""
        return await asyncio.to_thread(self.incr, key, ttl)

    async def attl(self, key: str) -> float | None:
        """Async :meth:`ttl`."""
        return await asyncio.to_thread(self.ttl, key)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections (optional)."""

    # Effects, for flows that run under both adapters: one typed method per operation, so a
    # misspelt operation is an attribute error at type-check time, not a 503 at run time.
    def get_effect(self, key: str) -> Effect:
        """The effect of :meth:`get` (:meth:`aget` under ASGI)."""
        return Effect(self.get, self.aget, (key,))

    def set_effect(self, key: str, value: bytes, ttl: float) -> Effect:
        """The effect of :meth:`set` (:meth:`aset` under ASGI)."""
        return Effect(self.set, self.aset, (key, value, ttl))

    def delete_effect(self, key: str) -> Effect:
        """The effect of :meth:`delete` (:meth:`adelete` under ASGI)."""
        return Effect(self.delete, self.adelete, (key,))

    def incr_effect(self, key: str, ttl: float) -> Effect:
        """The effect of :meth:`incr` (:meth:`aincr` under ASGI)."""
        return Effect(self.incr, self.aincr, (key, ttl))

    def ttl_effect(self, key: str) -> Effect:
        """The effect of :meth:`ttl` (:meth:`attl` under ASGI)."""
        return Effect(self.ttl, self.attl, (key,))
