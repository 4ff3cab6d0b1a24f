"""Redis clients from a store URL: one server, Sentinel or Cluster (Redis or Valkey alike).

- ``redis://[:password@]host:port/db``, ``rediss://...``, ``unix:///path?db=0``: one server.
- ``redis+sentinel://[:password@]host:port[,host:port...]/service[/db]``: the master of
  ``service`` as the sentinels name it; every call finds the current master, so the store
  follows a failover.
- ``redis+cluster://[:password@]host:port[,host:port...]``: a Redis Cluster, discovered from
  these nodes (every key routeguard uses is a single key, so no command spans two slots).

Every client waits for a free pooled connection up to the store timeout instead of failing at
once (a healthy store never causes a 503), and retries a command once, without delay, on a
broken connection (a pooled connection left over from before a restart). Timeouts are never
retried: a slow store costs one timeout, then the request is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import PolicyError
from .base import masked

SCHEMES = ("redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster")


def redis_module() -> Any:
    """The ``redis`` package, or a load error naming the extra to install."""
    try:
        import redis
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise PolicyError("store.url: redis:// needs the redis extra (pip install 'routeguard[redis]')") from None
    return redis


def _nodes(url: str) -> list[tuple[str, int]]:
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    nodes = []
    for part in netloc.split(","):
        host, _, port = part.strip().rpartition(":")
        if not host or not port.isdigit():
            raise PolicyError(f"store.url: {masked(url)!r}: list nodes as host:port,host:port")
        nodes.append((host.strip("[]"), int(port)))
    return nodes


def _password(url: str) -> str | None:
    parts = urlsplit(url)
    return unquote(parts.password) if parts.password else None


def _username(url: str) -> str | None:
    parts = urlsplit(url)
    return unquote(parts.username) if parts.username else None


def factory(url: str, *, timeout: float, pool_size: int) -> Callable[[bool], tuple[Any, list[Any]]]:
    """``make(asynchronous)`` building a sync or an asyncio client for ``url``, and the other
    clients (a Sentinel's) to close with it."""
    redis = redis_module()
    scheme = url.partition(":")[0].lower()
    if scheme not in SCHEMES:
        raise PolicyError(f"store.url: {masked(url)!r}: use redis://, rediss://, redis+sentinel:// or redis+cluster://")
    common: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    tls = scheme.startswith("rediss")

    def retry(asynchronous: bool) -> Any:
        module = __import__("redis.asyncio.retry" if asynchronous else "redis.retry", fromlist=["Retry"])
        from redis.backoff import NoBackoff

        return module.Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,))

    if scheme.endswith("+cluster"):
        nodes = _nodes(url)

        def cluster(asynchronous: bool) -> tuple[Any, list[Any]]:
            module: Any = __import__("redis.asyncio.cluster" if asynchronous else "redis.cluster",
                                     fromlist=["RedisCluster"])
            startup = [module.ClusterNode(h, p) for h, p in nodes]
            client = module.RedisCluster(startup_nodes=startup, password=_password(url), username=_username(url),
                                         ssl=tls, max_connections=pool_size, socket_timeout=timeout,
                                         socket_connect_timeout=timeout, retry=retry(asynchronous))
            return client, []

        return cluster

    if scheme.endswith("+sentinel"):
        nodes = _nodes(url)
        path = [p for p in urlsplit(url).path.split("/") if p]
        if not path:
            raise PolicyError(f"store.url: {masked(url)!r}: name the service: redis+sentinel://host:port/service")
        service, db = path[0], int(path[1]) if len(path) > 1 and path[1].isdigit() else 0

        def sentinel(asynchronous: bool) -> tuple[Any, list[Any]]:
            module = __import__("redis.asyncio.sentinel" if asynchronous else "redis.sentinel",
                                fromlist=["Sentinel"])
            blocking = (redis.asyncio if asynchronous else redis).BlockingConnectionPool
            # The master's pool, waiting for a free connection like the one-server pool does.
            pool = type("BlockingSentinelPool", (module.SentinelConnectionPool, blocking), {})
            watcher = module.Sentinel(nodes, sentinel_kwargs=dict(common), **common)
            connections = pool(service, watcher, db=db, password=_password(url), username=_username(url), ssl=tls,
                               max_connections=pool_size, timeout=timeout, retry=retry(asynchronous), **common)
            client = (redis.asyncio.Redis if asynchronous else redis.Redis).from_pool(connections)
            return client, list(watcher.sentinels)

        return sentinel

    def single(asynchronous: bool) -> tuple[Any, list[Any]]:
        if asynchronous:
            from redis import asyncio as aioredis

            pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=pool_size, timeout=timeout,
                                                            retry=retry(True), **common)
            return aioredis.Redis.from_pool(pool), []  # closing the client closes the pool
        pool = redis.BlockingConnectionPool.from_url(url, max_connections=pool_size, timeout=timeout,
                                                     retry=retry(False), **common)
        return redis.Redis.from_pool(pool), []

    return single
