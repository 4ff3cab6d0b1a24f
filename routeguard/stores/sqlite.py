"""SQLite store (``sqlite:///path/to/file.db``): shared by the worker processes of one host.

WAL mode lets readers and one writer proceed together; a busy timeout bounds every wait, and
any database error becomes :class:`ServiceUnavailableError` (the request is refused).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ServiceUnavailableError
from .base import Store

_SCHEMA = "CREATE TABLE IF NOT EXISTS routeguard_kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL NOT NULL)"
_SWEEP_EVERY = 512


class SQLiteStore(Store):
    """One table of keys with expiry; one connection per thread."""

    def __init__(self, path: str | Path, timeout: float = 2.0, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.timeout = timeout
        self._clock = clock
        self._local = threading.local()
        self._writes = 0

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            self._local.conn = conn
        return conn

    def _run(self, sql: str, params: tuple[object, ...]) -> list[Any]:
        try:
            return self._connection().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            self._local.conn = None  # reconnect next time
            raise ServiceUnavailableError(f"sqlite store: {type(exc).__name__}") from None

    def _maybe_sweep(self, now: float) -> None:
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0:
            self._run("DELETE FROM routeguard_kv WHERE expires <= ?", (now,))

    def get(self, key: str) -> bytes | None:
        rows = self._run("SELECT value FROM routeguard_kv WHERE key = ? AND expires > ?", (key, self._clock()))
        if not rows:
            return None
        value = rows[0][0]
        return value.encode() if isinstance(value, str) else bytes(value)  # a counter is stored as text

    def set(self, key: str, value: bytes, ttl: float) -> None:
        now = self._clock()
        if ttl <= 0:
            self.delete(key)
            return
        self._run(
            "INSERT INTO routeguard_kv (key, value, expires) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires = excluded.expires",
            (key, value, now + ttl),
        )
        self._maybe_sweep(now)

    def delete(self, key: str) -> None:
        self._run("DELETE FROM routeguard_kv WHERE key = ?", (key,))

    def incr(self, key: str, ttl: float) -> int:
        now = self._clock()
        rows = self._run(
            "INSERT INTO routeguard_kv (key, value, expires) VALUES (?, '1', ?) "
            "ON CONFLICT(key) DO UPDATE SET "
            "value = CASE WHEN expires > ? THEN CAST(CAST(value AS INTEGER) + 1 AS TEXT) ELSE '1' END, "
            "expires = CASE WHEN expires > ? THEN expires ELSE excluded.expires END "
            "RETURNING CAST(value AS INTEGER)",
            (key, now + ttl, now, now),
        )
        self._maybe_sweep(now)
        return int(rows[0][0])

    def ttl(self, key: str) -> float | None:
        now = self._clock()
        rows = self._run("SELECT expires FROM routeguard_kv WHERE key = ? AND expires > ?", (key, now))
        return float(rows[0][0]) - now if rows else None

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
