"""In-process store: the default (``memory://``). Shared by the threads of one process only."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .base import Store

_SWEEP_EVERY = 1024
MAX_COUNTERS = 100_000


class MemoryStore(Store):
    """A dict with expiry times; expired keys are swept lazily.

    Counters (failed credentials per client) are bounded: past ``max_counters`` the oldest
    counter is dropped, so a flood of distinct addresses cannot grow memory without end.
    Revocations and sessions are never dropped early (that would bring a credential back).
    """

    local = True

    def __init__(self, clock: Callable[[], float] = time.time, max_counters: int = MAX_COUNTERS) -> None:
        self.url = "memory://"
        self._clock = clock
        self._data: dict[str, tuple[float, bytes | int]] = {}
        self._counters: dict[str, None] = {}  # counter keys, oldest first
        self.max_counters = max_counters
        self._lock = threading.Lock()
        self._writes = 0
        self.holds_values = False  # until the first set(): revocations and logouts are sets

    def _live(self, key: str, now: float) -> bytes | int | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[0] <= now:
            self._data.pop(key, None)
            return None
        return entry[1]

    def _sweep(self, now: float) -> None:
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0:
            for key in [k for k, (exp, _) in self._data.items() if exp <= now]:
                self._data.pop(key, None)
                self._counters.pop(key, None)

    def get(self, key: str) -> bytes | None:
        if key not in self._data:  # nothing revoked, nobody logged out: no lock, no clock
            return None
        with self._lock:
            value = self._live(key, self._clock())
        if isinstance(value, int):
            return str(value).encode()
        return value

    def set(self, key: str, value: bytes, ttl: float) -> None:
        now = self._clock()
        with self._lock:
            if ttl <= 0:
                self._data.pop(key, None)
            else:
                self._data[key] = (now + ttl, value)
                self.holds_values = True
            self._sweep(now)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)
            self._counters.pop(key, None)

    def incr(self, key: str, ttl: float) -> int:
        now = self._clock()
        with self._lock:
            current = self._live(key, now)
            count = (int(current) if current is not None else 0) + 1
            expires = self._data[key][0] if current is not None else now + ttl
            self._data[key] = (expires, count)
            if current is None:
                self._counters.pop(key, None)
                self._counters[key] = None
                while len(self._counters) > self.max_counters:
                    oldest = next(iter(self._counters))
                    del self._counters[oldest]
                    self._data.pop(oldest, None)
            self._sweep(now)
            return count

    def ttl(self, key: str) -> float | None:
        now = self._clock()
        with self._lock:
            if self._live(key, now) is None:
                return None
            return self._data[key][0] - now

    # No I/O: the async forms call straight through instead of using a thread.
    async def aget(self, key: str) -> bytes | None:
        return self.get(key)

    async def aset(self, key: str, value: bytes, ttl: float) -> None:
        self.set(key, value, ttl)

    async def adelete(self, key: str) -> None:
        self.delete(key)

    async def aincr(self, key: str, ttl: float) -> int:
        return self.incr(key, ttl)

    async def attl(self, key: str) -> float | None:
        return self.ttl(key)
