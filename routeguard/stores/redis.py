"""Redis store (``redis://``, ``redis+sentinel://``, ``redis+cluster://``): shared by every host.

Each operation is written once, as a generator of Redis commands; one driver runs it with the
blocking client (WSGI) and one with the asyncio client (ASGI), with the same error handling:
any Redis or socket error becomes :class:`ServiceUnavailableError` (the request is refused) and
the client reconnects by itself, so service resumes as soon as Redis is back.

Revocations are only as durable as Redis. The store keeps an epoch marker; a process that saw
it and finds it gone or replaced (Redis restarted without persistence, the key evicted, the database
flushed) knows revocations may have been lost: it sets a global not-before, so every
credential issued before that moment is refused as logged out, and logs a warning.
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
from .base import Store, masked
from .redis_clients import factory, redis_module

T = TypeVar("T")

#: One Redis command (method name, positional and keyword arguments), or a list of them sent
#: as one pipeline.
Command = tuple[str, tuple[Any, ...], dict[str, Any]]
Op = Generator["Command | list[Command]", Any, T]

_INCR = "local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return n"
_NO_KWARGS: dict[str, Any] = {}
_SAME_MARKER = 2.0  # seconds: two readings of one marker's expiry differ by less (latency, clock steps)


def _marker_value(not_before: int) -> bytes:
    return f"{not_before}:{secrets.token_hex(8)}".encode()


def _marker_ttl() -> int:
    """Ten years and a random jitter of up to a day, in milliseconds."""
    return 10 * 365 * 86_400_000 + secrets.randbelow(86_400_000)


async def _close_on_shutdown(clients: list[Any]) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for client in clients:
            await client.aclose()


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
        self._epoch_key = prefix + "epoch"
        self._marker: float | None = None  # the expiry time of the epoch marker this process last saw
        self._marker_value = b""
        self._checked = False  # Redis's eviction settings checked

    # -- the operations, written once --------------------------------------------------------
    def _get(self, key: str) -> Op[bytes | None]:
        # PTTL reads the epoch marker without touching it (an LRU sees it as old, not as hot).
        value, pttl = yield [("get", (self.prefix + key,), _NO_KWARGS), ("pttl", (self._epoch_key,), _NO_KWARGS)]
        expiry = time.time() + pttl / 1000 if pttl >= 0 else None
        if expiry is None or self._marker is None or abs(expiry - self._marker) > _SAME_MARKER:
            yield from self._epoch(expiry)
        return value if value is None else bytes(value)

    def _set(self, key: str, value: bytes, ttl: float) -> Op[None]:
        if ttl <= 0:
            yield ("delete", (self.prefix + key,), _NO_KWARGS)
        else:
            yield ("set", (self.prefix + key, value), {"px": _millis(ttl)})

    def _delete(self, key: str) -> Op[None]:
        yield ("delete", (self.prefix + key,), _NO_KWARGS)

    def _incr(self, key: str, ttl: float) -> Op[int]:
        return int((yield ("eval", (_INCR, 1, self.prefix + key, _millis(ttl)), _NO_KWARGS)))

    def _ttl(self, key: str) -> Op[float | None]:
        millis = int((yield ("pttl", (self.prefix + key,), _NO_KWARGS)))
        return millis / 1000 if millis >= 0 else None

    def _epoch(self, expiry: float | None) -> Generator[Command, Any, None]:
        """Follow the epoch marker; detect a loss of data.

        The marker holds ``<not-before>:<random id>``: not-before is 0 when a process that saw no
        marker created it, or the time a loss was detected. Its expiry time, ten years ahead with
        a random jitter, tells one marker from another without reading (touching) it.
        """
        seen = self._marker
        if not self._checked:
            self._checked = True
            yield from self._check_settings()
        if expiry is None and seen is None:  # first use of this Redis (as far as we know)
            # Redis may refuse writes (full, read-only replica): then try again on the next read.
            with contextlib.suppress(*self._errors):
                yield ("set", (self._epoch_key, _marker_value(0)), {"nx": True, "px": _marker_ttl()})
            return  # read back (value and expiry) on the next call
        value = None if expiry is None else (yield ("get", (self._epoch_key,), _NO_KWARGS))
        if value is not None and bytes(value) == self._marker_value:  # the same marker; the clock moved
            self._marker = expiry
            return
        if value is None or (seen is not None and bytes(value).startswith(b"0:")):
            # Gone, or recreated as new by a process that never saw the old one: data was lost.
            now = int(time.time())  # whole seconds, as iat and cookie timestamps are
            ttl, lost = _marker_ttl(), _marker_value(now)
            yield ("set", (self._epoch_key, lost), {"px": ttl})
            self._marker, self._marker_value = time.time() + ttl / 1000, lost
            self.not_before = max(self.not_before, now)
            logging.getLogger("routeguard").warning(
                "redis store %s lost its epoch marker (restart without persistence, eviction or flush): "
                "revocations may be lost, so every credential issued before now is refused", self.url)
            return
        self._marker, self._marker_value = expiry, bytes(value)
        self.not_before = max(self.not_before, float(bytes(value).partition(b":")[0]))

    def _check_settings(self) -> Generator[Command, Any, None]:
        """Warn once when Redis may drop revocations by itself (an eviction policy under maxmemory)."""
        try:
            info = yield ("info", ("memory",), _NO_KWARGS)
        except self._errors:
            return  # INFO disabled (managed Redis): nothing to check
        policy = info.get("maxmemory_policy") if isinstance(info, dict) else None
        if policy is not None and policy != "noeviction" and int(info.get("maxmemory", 0) or 0) > 0:
            logging.getLogger("routeguard").warning(
                "redis store %s evicts keys under maxmemory (maxmemory-policy %s): revoked credentials can "
                "come back; use maxmemory-policy noeviction or a dedicated Redis", self.url, policy)

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
