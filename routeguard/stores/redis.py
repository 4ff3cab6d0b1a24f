"""Redis store (``redis://host:port/db``): shared by every host. Needs the ``redis`` extra.

Every call has a socket timeout; connection errors and timeouts become
:class:`ServiceUnavailableError` (the request is refused) and the client reconnects by itself
on the next call, so service resumes as soon as Redis is back.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from typing import Any

from ..errors import PolicyError, ServiceUnavailableError
from .base import Store, masked

_INCR = "local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return n"


async def _close_on_shutdown(client: Any) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await client.aclose()


def _client_module() -> Any:
    try:
        import redis
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise PolicyError("store.url: redis:// needs the redis extra (pip install 'routeguard[redis]')") from None
    return redis


class RedisStore(Store):
    """Keys in Redis with native expiry; a sync client for WSGI, one async client per event loop."""

    def __init__(self, url: str, timeout: float = 1.0, prefix: str = "routeguard:") -> None:
        self._url = url
        self.url = masked(url)
        self.timeout = timeout
        self.prefix = prefix
        self._redis = _client_module()
        self._sync = self._redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()

    async def _aclient(self) -> Any:
        loop = asyncio.get_running_loop()
        entry = self._async.get(loop)
        if entry is None:
            from redis import asyncio as aioredis

            client = aioredis.Redis.from_url(
                self._url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
            )
            # Close the client when its loop shuts down: the loop finalizes every async
            # generator it has seen (asyncio.run, uvicorn), and this one closes the client.
            closer = _close_on_shutdown(client)
            await closer.__anext__()
            entry = (client, closer)
            self._async[loop] = entry
        return entry[0]

    def _fail(self, exc: Exception) -> ServiceUnavailableError:
        return ServiceUnavailableError(f"redis store: {type(exc).__name__}")

    def get(self, key: str) -> bytes | None:
        try:
            value = self._sync.get(self.prefix + key)
        except self._redis.RedisError as exc:
            raise self._fail(exc) from None
        return value if value is None else bytes(value)

    def set(self, key: str, value: bytes, ttl: float) -> None:
        try:
            if ttl <= 0:
                self._sync.delete(self.prefix + key)
            else:
                self._sync.set(self.prefix + key, value, px=max(1, int(ttl * 1000)))
        except self._redis.RedisError as exc:
            raise self._fail(exc) from None

    def delete(self, key: str) -> None:
        try:
            self._sync.delete(self.prefix + key)
        except self._redis.RedisError as exc:
            raise self._fail(exc) from None

    def incr(self, key: str, ttl: float) -> int:
        try:
            return int(self._sync.eval(_INCR, 1, self.prefix + key, max(1, int(ttl * 1000))))
        except self._redis.RedisError as exc:
            raise self._fail(exc) from None

    def ttl(self, key: str) -> float | None:
        try:
            millis = int(self._sync.pttl(self.prefix + key))
        except self._redis.RedisError as exc:
            raise self._fail(exc) from None
        return millis / 1000 if millis >= 0 else None

    async def aget(self, key: str) -> bytes | None:
        try:
            value = await (await self._aclient()).get(self.prefix + key)
        except (self._redis.RedisError, OSError) as exc:
            raise self._fail(exc) from None
        return value if value is None else bytes(value)

    async def aset(self, key: str, value: bytes, ttl: float) -> None:
        try:
            if ttl <= 0:
                await (await self._aclient()).delete(self.prefix + key)
            else:
                await (await self._aclient()).set(self.prefix + key, value, px=max(1, int(ttl * 1000)))
        except (self._redis.RedisError, OSError) as exc:
            raise self._fail(exc) from None

    async def adelete(self, key: str) -> None:
        try:
            await (await self._aclient()).delete(self.prefix + key)
        except (self._redis.RedisError, OSError) as exc:
            raise self._fail(exc) from None

    async def aincr(self, key: str, ttl: float) -> int:
        try:
            return int(await (await self._aclient()).eval(_INCR, 1, self.prefix + key, max(1, int(ttl * 1000))))
        except (self._redis.RedisError, OSError) as exc:
            raise self._fail(exc) from None

    async def attl(self, key: str) -> float | None:
        try:
            millis = int(await (await self._aclient()).pttl(self.prefix + key))
        except (self._redis.RedisError, OSError) as exc:
            raise self._fail(exc) from None
        return millis / 1000 if millis >= 0 else None

    def close(self) -> None:
        self._sync.close()
