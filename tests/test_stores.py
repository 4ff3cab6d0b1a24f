"""The store interface, identical on memory, SQLite and Redis (sync and async forms)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from routeguard.errors import PolicyError, ServiceUnavailableError
from routeguard.stores import open_store

#: Plain keys, and keys of the revocation ledger (kept apart by the Redis store).
KEYS = pytest.mark.parametrize("kind", ["", "revoked:"], ids=["plain", "ledger"])


@KEYS
def test_set_get_delete_ttl(store_url: Any, kind: str) -> None:
    store = open_store(store_url)
    key, gone = kind + "k", kind + "gone"
    assert store.get(key) is None
    store.set(key, b"v", 60)
    assert store.get(key) == b"v"
    assert 58 < (store.ttl(key) or 0) <= 60
    store.set(key, b"w", 60)
    assert store.get(key) == b"w"
    store.delete(key)
    assert store.get(key) is None and store.ttl(key) is None
    store.set(gone, b"x", 0)
    assert store.get(gone) is None


@KEYS
def test_expiry(store_url: Any, kind: str) -> None:
    store = open_store(store_url)
    store.set(kind + "short", b"1", 0.2)
    assert store.get(kind + "short") == b"1"
    time.sleep(0.35)
    assert store.get(kind + "short") is None and store.ttl(kind + "short") is None


def test_counters_share_one_window(store_url: Any) -> None:
    store = open_store(store_url)
    assert [store.incr("c", 60) for _ in range(3)] == [1, 2, 3]
    assert 0 < (store.ttl("c") or 0) <= 60
    store.incr("w", 0.2)
    time.sleep(0.35)
    assert store.incr("w", 60) == 1  # the old window expired


@KEYS
def test_async_forms_agree(store_url: Any, kind: str) -> None:
    store = open_store(store_url)
    key = kind + "a"

    async def scenario() -> Any:
        await store.aset(key, b"1", 60)
        got = await store.aget(key)
        count = [await store.aincr("n", 60) for _ in range(2)]
        ttl = await store.attl(key)
        await store.adelete(key)
        return got, count, ttl, await store.aget(key)

    got, count, ttl, after = asyncio.run(scenario())
    assert (got, count, after) == (b"1", [1, 2], None)
    assert 0 < ttl <= 60
    assert asyncio.run(scenario())[1] == [3, 4]  # a second event loop reuses the store


def test_redis_keys_are_namespaced(redis_server: Any) -> None:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    one, two = open_store(redis_server.url, prefix="app1:"), open_store(redis_server.url, prefix="app2:")
    one.set("k", b"1", 60)
    assert two.get("k") is None
    assert client.get("app1:k") == b"1"


@pytest.mark.parametrize(("url", "message"), [
    ("postgres://x", "use memory://"),
    ("sqlite://relative.db", "absolute"),
    ("sqlite:///no/such/dir/x.db", "does not exist"),
])
def test_bad_urls_are_load_errors(url: Any, message: Any) -> None:
    with pytest.raises(PolicyError, match=message):
        open_store(url)


def test_unreachable_redis_fails_closed() -> None:
    store = open_store("redis://127.0.0.1:1/0", timeout=0.2)
    with pytest.raises(ServiceUnavailableError):
        store.get("k")
    with pytest.raises(ServiceUnavailableError):
        asyncio.run(store.aget("k"))


def test_broken_sqlite_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    store = open_store(f"sqlite:///{path}")
    store.set("k", b"v", 60)
    store.close()
    path.unlink()
    path.mkdir()  # the database file is now a directory: every query fails
    with pytest.raises(ServiceUnavailableError):
        store.get("k")
