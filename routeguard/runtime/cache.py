"""Every cache of the request path, in one place: a bounded, thread-safe TTL cache (verified
tokens, loaded identities, memberships) and ``Memo``, a bounded memo for pure functions of
small, repeating inputs (``Accept`` headers, paths, header names, Starlette auth scopes)."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Hashable
from typing import Final, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TTLCache(Generic[V]):
    """Maps keys to values until their own expiry time; evicts oldest entries when full.

    Bounded in entries (``maxsize``) and, when ``maxbytes`` is set, in the total ``size`` the
    caller gives each entry. Reads take no lock (a dict lookup is atomic); writes do.
    ``clock`` is injectable for tests.
    """

    __slots__ = ("_bytes", "_clock", "_data", "_lock", "_sizes", "maxbytes", "maxsize", "peek")

    def __init__(self, maxsize: int = 10_000, clock: Callable[[], float] = time.time, maxbytes: int = 0) -> None:
        self.maxsize = maxsize
        self.maxbytes = maxbytes
        self._clock = clock
        self._data: dict[Hashable, tuple[float, V]] = {}
        #: ``(expires_at, value)`` for a key, or None, expired or not: a C-level lookup for a
        #: caller on the request path that checks the expiry itself (:meth:`get` drops it).
        self.peek = self._data.get
        self._sizes: dict[Hashable, int] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, now: float | None = None) -> V | None:
        """The live value for ``key``, or None (an expired entry is dropped)."""
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[0] <= (self._clock() if now is None else now):
            self.discard(key)
            return None
        return entry[1]

    def set(self, key: Hashable, value: V, expires_at: float, size: int = 0) -> None:
        """Store ``value`` until ``expires_at`` (epoch seconds); ``size`` counts toward ``maxbytes``."""
        if self.maxsize <= 0 or (self.maxbytes and size > self.maxbytes):
            return
        with self._lock:
            data = self._data
            if key not in data and len(data) >= self.maxsize:
                # FIFO eviction of the oldest tenth keeps the amortized cost per insert flat.
                for old in list(data)[: max(1, self.maxsize // 10)]:
                    self._drop(old)
            if self.maxbytes:
                self._drop(key)
                while data and self._bytes + size > self.maxbytes:
                    self._drop(next(iter(data)))
                self._sizes[key] = size
                self._bytes += size
            data[key] = (expires_at, value)

    def _drop(self, key: Hashable) -> None:
        self._data.pop(key, None)
        self._bytes -= self._sizes.pop(key, 0)

    def discard(self, key: Hashable) -> None:
        """Forget ``key`` if present."""
        with self._lock:
            self._drop(key)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._data.clear()
            self._sizes.clear()
            self._bytes = 0

    @property
    def bytes(self) -> int:
        """The total size of the entries (0 unless ``maxbytes`` is set)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._data)


class Memo(Generic[K, V]):
    """``memo(key)`` is ``function(key)``, remembered; cleared whole when ``maxsize`` entries
    are held (inputs repeat: a few ``Accept`` headers, a few role sets). ``keep(key)`` False:
    computed, not remembered (a client's long input must not hold memory ``maxsize`` times
    over). Thread-safe: a race at worst computes a value twice."""

    __slots__ = ("_data", "function", "get", "keep", "maxsize")

    def __init__(self, function: Callable[[K], V], maxsize: int = 4096,
                 keep: Callable[[K], bool] | None = None) -> None:
        self.function = function
        self.maxsize = maxsize
        self.keep = keep
        self._data: dict[K, V] = {}
        #: The value remembered for a key, or None: a C-level lookup for the request path
        #: (``memo.get(key) or memo(key)`` skips a Python call when the key repeats).
        self.get = self._data.get

    def __call__(self, key: K) -> V:
        data = self._data
        try:
            return data[key]
        except KeyError:
            pass
        value = self.function(key)
        if self.keep is None or self.keep(key):
            if len(data) >= self.maxsize:
                data.clear()
            data[key] = value
        return value

    def clear(self) -> None:
        """Forget every value."""
        self._data.clear()


#: The longest client-sent text a memo keeps (a path, an ``Accept`` header, the header names of
#: a request): longer ones are computed each time, so a memo of 4,096 entries holds about a MiB.
SHORT: Final = 256


def short(text: str | bytes | None) -> bool:
    """Whether ``text`` is short enough for a memo of client input to keep (None is)."""
    return text is None or len(text) <= SHORT


class PerObject(Generic[V]):
    """A value per live object, by identity: the objects need not be hashable (a pydantic
    policy is not), are never kept alive by this map, and their entry goes with them.
    (The value must not reference its object, or the object lives as long as the map.)"""

    __slots__ = ("_data", "_lock")

    def __init__(self) -> None:
        self._data: dict[int, V] = {}
        self._lock = threading.Lock()

    def get(self, obj: object, create: Callable[[], V]) -> V:
        """The value of ``obj``, made by ``create()`` on first use (once, under a lock)."""
        key = id(obj)
        value = self._data.get(key)
        if value is None:
            with self._lock:
                value = self._data.get(key)
                if value is None:
                    value = self._data[key] = create()
                    weakref.finalize(obj, self._data.pop, key, None)
        return value

    def __len__(self) -> int:
        return len(self._data)
