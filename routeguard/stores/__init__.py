"""Stores for revocations, server-side sessions and counters, chosen by URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from ..errors import PolicyError
from .base import Store, masked
from .memory import MemoryStore
from .redis_clients import SCHEMES
from .sqlite import SQLiteStore

__all__ = ["MemoryStore", "SQLiteStore", "Store", "masked", "open_store"]


def open_store(url: str, timeout: float = 1.0, prefix: str = "routeguard:", pool_size: int = 100) -> Store:
    """The store for ``url``: ``memory://``, ``sqlite:///abs/path.db``, ``redis://host:port/db``,
    ``redis+sentinel://host:port,host:port/service`` or ``redis+cluster://host:port,host:port``.

    Connections are opened lazily, on first use. ``prefix`` namespaces Redis keys, so several
    apps can share one Redis database; ``pool_size`` bounds the Redis connections per client
    (a request waits up to ``timeout`` for a free one).
    """
    scheme = url.partition(":")[0].lower()
    if url in ("memory://", "memory:"):
        store: Store = MemoryStore()
    elif scheme == "sqlite":
        path = urlsplit(url).path
        if not url.startswith("sqlite:///") or not path or path == "/":
            raise PolicyError(f"store.url: {masked(url)!r}: write sqlite:///absolute/path/to/file.db")
        directory = Path(path).parent
        if not directory.is_dir():
            raise PolicyError(f"store.url: directory {str(directory)!r} does not exist")
        store = SQLiteStore(path, timeout=max(timeout, 0.1))
    elif scheme in SCHEMES:
        from .redis import RedisStore

        store = RedisStore(url, timeout=timeout, prefix=prefix, pool_size=pool_size)
    else:
        raise PolicyError(
            f"store.url: {masked(url)!r}: use memory://, sqlite:///path, redis://host:port/db, "
            "redis+sentinel://host:port/service or redis+cluster://host:port"
        )
    return store
