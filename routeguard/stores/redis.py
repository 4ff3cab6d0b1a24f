"""Redis store (``redis://``, ``redis+sentinel://``, ``redis+cluster://``): shared by every host.

Each operation is written once, as a generator of Redis commands; one driver runs it with the
blocking client (WSGI) and one with the asyncio client (ASGI), with the same error handling:
any Redis or socket error becomes :class:`ServiceUnavailableError` (the request is refused) and
the client reconnects by itself, so service resumes as soon as Redis is back.

Revocations are only as durable as Redis. The revocation ledger (the keys of
:data:`~routeguard.stores.base.LEDGER`: revoked credentials, logout times) lives in one hash,
``<prefix>ledger``, beside a witness field; Redis evicts, loses and flushes whole keys, so the
ledger and its witness go together. A process that saw the witness and finds it gone or replaced
(Redis restarted without persistence, the ledger evicted, the database flushed) knows revocations
may have been lost: it sets a global not-before, so every credential issued before that moment is
refused as logged out, and logs a warning. Other keys (sessions, failure counters) are plain keys
with a native expiry, spread over a Cluster; losing one signs a user out or resets a counter.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import threading
import time
import weakref
from collections.abc import AsyncIterator, Generator
from typing import Any, TypeVar

from ..errors import ServiceUnavailableError
from .base import LEDGER, Store, masked
from .redis_clients import factory, redis_module

T = TypeVar("T")

#: One Redis command (method name, positional and keyword arguments), or a list of them sent
#: as one pipeline.
Command = tuple[str, tuple[Any, ...], dict[str, Any]]
Op = Generator["Command | list[Command]", Any, T]

_INCR = "local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return n"
_NO_KWARGS: dict[str, Any] = {}

# The ledger hash: field ``~witness`` holds ``<not-before>:<random id>``, field ``~sweep`` the
# cursor of the sweep of expired entries, every other field ``<expiry, ms of Redis's clock>:<value>``.
# Each script answers the entry's live value (or false) and the witness (or false); expiry is
# read on Redis's clock, as PX is.
_WITNESS = "~witness"
_NOW = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "
_LEDGER_GET = _NOW + """
local v = redis.call('HMGET', KEYS[1], ARGV[1], ARGV[2])
local entry = v[1]
if entry then
  local at = string.find(entry, ':', 1, true)
  if tonumber(string.sub(entry, 1, at - 1)) > now then
    if ARGV[3] == 'ttl' then entry = string.format('%.0f', tonumber(string.sub(entry, 1, at - 1)) - now)
    else entry = string.sub(entry, at + 1) end
  else entry = false end
end
return {entry, v[2]}"""
# Sets (or, with a non-positive ttl, deletes) one entry, then sweeps up to 64 fields for expired
# entries from where the last sweep stopped: the ledger never holds many more than the live ones.
_LEDGER_SET = _NOW + """
if tonumber(ARGV[4]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], string.format('%.0f', now + tonumber(ARGV[4])) .. ':' .. ARGV[3])
else redis.call('HDEL', KEYS[1], ARGV[1]) end
local page = redis.call('HSCAN', KEYS[1], redis.call('HGET', KEYS[1], '~sweep') or '0', 'COUNT', 64)
for i = 1, #page[2], 2 do
  local field, entry = page[2][i], page[2][i + 1]
  if string.sub(field, 1, 1) ~= '~' and tonumber(string.match(entry, '^(%d+):')) <= now then
    redis.call('HDEL', KEYS[1], field)
  end
end
redis.call('HSET', KEYS[1], '~sweep', page[1])
return {false, redis.call('HGET', KEYS[1], ARGV[2])}"""


def _witness_value(not_before: int) -> bytes:
    return f"{not_before}:{secrets.token_hex(8)}".encode()


def _in_ledger(key: str) -> bool:
    return key.startswith(LEDGER)


async def _close_on_shutdown(clients: list[Any]) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for client in clients:
            await client.aclose()
            # redis-py's asyncio cluster client skips its own close while a connection error has
            # it flagged for re-initialisation (a lost master): disconnect its nodes ourselves.
            for node in client.get_nodes() if hasattr(client, "get_nodes") else ():
                await node.disconnect()


def _millis(ttl: float) -> int:
    return max(1, int(ttl * 1000))


class RedisStore(Store):
    """Keys in Redis with native expiry; a sync client for WSGI, one async client per event loop."""

    def __init__(self, url: str, timeout: float = 1.0, prefix: str = "routeguard:", pool_size: int = 100) -> None:
        self._url = url
        self.url = masked(url)
        self.timeout = timeout
        self.prefix = prefix
        self._errors: tuple[type[BaseException], ...] = (redis_module().RedisError, OSError)
        self._make = factory(url, timeout=timeout, pool_size=pool_size)
        self._sync, self._others = self._make(False)
        # redis-py's cluster clients fail at once when a node's pool is exhausted (its other
        # clients here wait on a blocking pool): bound the operations in flight to the pool size
        # instead, per process for the sync client and per event loop for the asyncio ones, so a
        # healthy cluster makes a request wait for a connection, never refuses it.
        self._pool_size = pool_size if "+cluster" in url.partition(":")[0].lower() else 0
        self._slots = threading.BoundedSemaphore(pool_size) if self._pool_size else None
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
        self._aslots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary())
        self._ledger = prefix + "ledger"
        self._legacy_marker = prefix + "epoch"  # where routeguard kept its revocations before the ledger
        self._witness = b""  # the ledger's witness as this process last saw it (b"": never)
        self._checked = False  # Redis's eviction settings checked

    # -- the operations, written once --------------------------------------------------------
    def _get(self, key: str) -> Op[bytes | None]:
        if _in_ledger(key):
            return (yield from self._ledger_op(_LEDGER_GET, key, "get"))
        value = yield ("get", (self.prefix + key,), _NO_KWARGS)
        return value if value is None else bytes(value)

    def _set(self, key: str, value: bytes, ttl: float) -> Op[None]:
        if _in_ledger(key):
            yield from self._ledger_op(_LEDGER_SET, key, value, _millis(ttl) if ttl > 0 else 0)
        elif ttl <= 0:
            yield ("delete", (self.prefix + key,), _NO_KWARGS)
        else:
            yield ("set", (self.prefix + key, value), {"px": _millis(ttl)})

    def _delete(self, key: str) -> Op[None]:
        if _in_ledger(key):
            yield from self._ledger_op(_LEDGER_SET, key, b"", 0)
        else:
            yield ("delete", (self.prefix + key,), _NO_KWARGS)

    def _incr(self, key: str, ttl: float) -> Op[int]:
        return int((yield ("eval", (_INCR, 1, self.prefix + key, _millis(ttl)), _NO_KWARGS)))

    def _ttl(self, key: str) -> Op[float | None]:
        if _in_ledger(key):
            left = yield from self._ledger_op(_LEDGER_GET, key, "ttl")
            return None if left is None else int(left) / 1000
        millis = int((yield ("pttl", (self.prefix + key,), _NO_KWARGS)))
        return millis / 1000 if millis >= 0 else None

    def _ledger_op(self, script: str, key: str, *args: Any) -> Op[bytes | None]:
        """Run a ledger script on ``key``'s entry; follow the witness it reads back.

        Operations of one process overlap (tasks, threads): a reading that shows the witness as
        it was when this operation started, after another operation followed it further, is
        older than what this process knows and says nothing new (RG-2026-38: the first
        operations of a process, reading no witness yet, took the one a sibling had just
        created for a loss, and refused every credential issued before)."""
        known = self._witness
        entry, witness = yield ("eval", (script, 1, self._ledger, key, _WITNESS, *args), _NO_KWARGS)
        read = None if witness is None else bytes(witness)
        if read is None or read != self._witness:
            stale = self._witness != known and (read or b"") == known
            if not stale:
                yield from self._follow(read)
        return entry if entry is None else bytes(entry)

    def _follow(self, witness: bytes | None) -> Generator[Command, Any, None]:
        """Follow the ledger's witness; detect a loss of data.

        The witness holds ``<not-before>:<random id>``: not-before is 0 when a process that saw no
        witness created it, or the time a loss was detected.
        """
        seen = self._witness
        if not self._checked:
            self._checked = True
            yield from self._check_settings()
        # First use of this Redis as far as we know, unless an older routeguard kept its
        # revocations here as keys of their own (beside its epoch marker): those are not read,
        # so they count as lost (RG-2026-36).
        if witness is None and not seen and not (yield ("exists", (self._legacy_marker,), _NO_KWARGS)):
            # Redis may refuse writes (full, read-only replica): then try again on the next call.
            with contextlib.suppress(*self._errors):
                mine = _witness_value(0)
                if (yield ("hsetnx", (self._ledger, _WITNESS, mine), _NO_KWARGS)):
                    self._witness = mine  # ours: known from now on (a loss of it is seen)
            return  # another process's witness: read back on the next call
        if witness is None or (seen and witness.startswith(b"0:")):
            # Gone, or recreated as new by a process that never saw the old one: data was lost.
            # The next second: iat and cookie times are whole seconds, and one issued in the
            # second the loss is found may have been revoked before it.
            now = int(time.time()) + 1
            lost = _witness_value(now)
            yield ("hset", (self._ledger, _WITNESS, lost), _NO_KWARGS)
            self._witness = lost
            self.not_before = max(self.not_before, now)
            logging.getLogger("routeguard").warning(
                "redis store %s lost its revocation ledger (restart without persistence, eviction or flush, "
                "or revocations an older routeguard kept as keys of their own): revocations may be lost, so "
                "every credential issued before now is refused", self.url)
            return
        self._witness = witness
        self.not_before = max(self.not_before, float(witness.partition(b":")[0]))

    def _check_settings(self) -> Generator[Command, Any, None]:
        """Warn once when Redis may drop revocations by itself (an eviction policy under maxmemory)."""
        try:
            info = yield ("info", ("memory",), _NO_KWARGS)
        except self._errors:
            return  # INFO disabled (managed Redis): nothing to check
        policy = info.get("maxmemory_policy") if isinstance(info, dict) else None
        if policy is not None and policy != "noeviction" and int(info.get("maxmemory", 0) or 0) > 0:
            logging.getLogger("routeguard").warning(
                "redis store %s evicts keys under maxmemory (maxmemory-policy %s): if it evicts the "
                "revocation ledger, every credential issued before is refused and its users sign in "
                "again; use maxmemory-policy noeviction or a dedicated Redis", self.url, policy)

    # -- the two drivers ---------------------------------------------------------------------
    def _run(self, op: Op[T]) -> T:
        if self._slots is None:
            return self._drive(op)
        if not self._slots.acquire(timeout=self.timeout):
            raise ServiceUnavailableError("redis store: no free connection within the store timeout")
        try:
            return self._drive(op)
        finally:
            self._slots.release()

    def _drive(self, op: Op[T]) -> T:
        client = self._sync
        try:
            command = next(op)
            while True:
                if isinstance(command, list):
                    pipe = client.pipeline(transaction=False)
                    for name, args, kwargs in command:
                        getattr(pipe, name)(*args, **kwargs)
                    call: Any = pipe.execute
                else:
                    name, args, kwargs = command
                    call = functools.partial(getattr(client, name), *args, **kwargs)
                try:
                    result = call()
                except self._errors as exc:  # thrown into the operation, which may handle it
                    command = op.throw(exc)
                else:
                    command = op.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        except self._errors as exc:
            raise self._fail(exc) from None

    async def _arun(self, op: Op[T]) -> T:
        if not self._pool_size:
            return await self._adrive(op)
        slots = self._aslots.get(asyncio.get_running_loop())
        if slots is None:
            slots = self._aslots.setdefault(asyncio.get_running_loop(), asyncio.Semaphore(self._pool_size))
        try:
            await asyncio.wait_for(slots.acquire(), self.timeout)
        except TimeoutError:
            raise ServiceUnavailableError("redis store: no free connection within the store timeout") from None
        try:
            return await self._adrive(op)
        finally:
            slots.release()

    async def _adrive(self, op: Op[T]) -> T:
        try:
            client = await self._aclient()
            command = next(op)
            while True:
                if isinstance(command, list):
                    pipe = client.pipeline(transaction=False)
                    for name, args, kwargs in command:
                        getattr(pipe, name)(*args, **kwargs)
                    call: Any = pipe.execute
                else:
                    name, args, kwargs = command
                    call = functools.partial(getattr(client, name), *args, **kwargs)
                try:
                    result = await call()
                except self._errors as exc:
                    command = op.throw(exc)
                else:
                    command = op.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        except self._errors as exc:
            raise self._fail(exc) from None

    def _fail(self, exc: BaseException) -> ServiceUnavailableError:
        return ServiceUnavailableError(f"redis store: {type(exc).__name__}")

    async def _aclient(self) -> Any:
        loop = asyncio.get_running_loop()
        entry = self._async.get(loop)
        if entry is None:
            client, others = self._make(True)
            # Close the client when its loop shuts down: the loop finalizes every async
            # generator it has seen (asyncio.run, uvicorn), and this one closes the client.
            closer = _close_on_shutdown([client, *others])
            await closer.__anext__()
            entry = (client, closer)
            self._async[loop] = entry
        return entry[0]

    # -- the Store interface -----------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        return self._run(self._get(key))

    def set(self, key: str, value: bytes, ttl: float) -> None:
        self._run(self._set(key, value, ttl))

    def delete(self, key: str) -> None:
        self._run(self._delete(key))

    def incr(self, key: str, ttl: float) -> int:
        return self._run(self._incr(key, ttl))

    def ttl(self, key: str) -> float | None:
        return self._run(self._ttl(key))

    async def aget(self, key: str) -> bytes | None:
        return await self._arun(self._get(key))

    async def aset(self, key: str, value: bytes, ttl: float) -> None:
        await self._arun(self._set(key, value, ttl))

    async def adelete(self, key: str) -> None:
        await self._arun(self._delete(key))

    async def aincr(self, key: str, ttl: float) -> int:
        return await self._arun(self._incr(key, ttl))

    async def attl(self, key: str) -> float | None:
        return await self._arun(self._ttl(key))

    def close(self) -> None:
        for client in (self._sync, *self._others):
            client.close()
