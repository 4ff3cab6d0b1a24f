"""Keys from a JWKS URL: cached, refreshed on an unknown ``kid`` at most once per interval.

Defends against key-server abuse (a token with a made-up ``kid`` cannot make the guard fetch
more often than ``min_refresh`` seconds), algorithm confusion (a JWK is used only when its key
type belongs to the configured algorithm family and its ``alg``, if any, matches the token) and
fail-open on outages (when a needed key cannot be fetched the request is refused with 503).
The fetch runs in a worker thread under ASGI, so the event loop never blocks on it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Generator, Mapping
from concurrent.futures import Future
from typing import Any, Final
from urllib.parse import urlsplit

from ..errors import AuthenticationError, PolicyError, ServiceUnavailableError
from ..runtime.effects import Effect, done

_KTY: Final = {"HMAC": "oct", "RSA": "RSA", "EC": "EC", "OKP": "OKP"}
_MAX_BYTES: Final = 1 << 20
_RETRY_AFTER_FAILURE: Final = 5.0  # seconds before a failed fetch is tried again (at most min_refresh)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Refuse every redirect: keys come from the configured URL only (a redirect could lead to
    plain http or another host, around the https rule checked at load)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER: Final = urllib.request.build_opener(_NoRedirects)


def fetch_json(url: str, timeout: float) -> Any:
    """GET ``url`` (no redirects) and parse JSON; :class:`ServiceUnavailableError` on any failure."""
    headers = {"Accept": "application/json", "User-Agent": "routeguard"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - http(s) only, checked at load
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            if response.status != 200:
                raise ServiceUnavailableError(f"jwks: HTTP {response.status}")
            return json.loads(response.read(_MAX_BYTES + 1)[:_MAX_BYTES])
    except ServiceUnavailableError:
        raise
    except urllib.error.HTTPError as exc:  # a redirect lands here too: never followed
        exc.close()
        raise ServiceUnavailableError(f"jwks: HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:
        raise ServiceUnavailableError(f"jwks: {type(exc).__name__}") from None


class JWKSKeys:
    """Resolves the verification key for a token header from a JWKS document.

    Use as ``BearerBackend(algorithms=["RS256"], resolve_key=JWKSKeys(url, family="RSA"))``.
    """

    def __init__(
        self,
        url: str,
        *,
        family: str,
        min_refresh: float = 60,
        max_age: float = 3600,
        timeout: float = 3.0,
        fetch: Callable[[str, float], Any] = fetch_json,
        clock: Callable[[], float] = time.time,
    ) -> None:
        parts = urlsplit(url)
        loopback = parts.hostname in ("127.0.0.1", "::1", "localhost")
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise PolicyError(
                f"auth.bearer.jwks_url: {url!r} must be an https URL (plain http only on loopback): "
                "keys fetched in clear text can be swapped on the way"
            )
        self.url = url
        self.family = family
        self.min_refresh = min_refresh
        self.max_age = max_age
        self.timeout = timeout
        self._fetch = fetch
        self._clock = clock
        self._keys: dict[str | None, tuple[Any, str | None]] = {}  # kid -> (key, alg)
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._failed = False  # the last fetch failed
        self._flight: Future[None] | None = None  # the fetch in flight, shared by every waiter
        self._lock = threading.Lock()

    def __call__(self, header: Mapping[str, Any]) -> Generator[Effect, Any, Any]:
        """A flow giving the key for ``header`` (it fetches the key set first when needed)."""
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise AuthenticationError("malformed key id")
        now = self._clock()
        key = self._lookup(kid, header)
        stale = now - self._fetched_at >= self.max_age
        if key is not None and not stale:
            return done(key)
        flight = self._flight
        in_flight = flight is not None and not flight.done()
        wait = min(self.min_refresh, _RETRY_AFTER_FAILURE) if self._failed else self.min_refresh
        if not in_flight and now - self._attempted_at < wait:
            if key is not None:
                return done(key)  # stale but known: keep verifying with it until a refresh succeeds
            if self._failed or self._fetched_at == float("-inf"):
                # No key set to judge the kid by: the key server's outage, not the client's fault.
                raise ServiceUnavailableError("jwks: no key set loaded")
            raise AuthenticationError("unknown key id")
        return self._refresh(kid, header, key)

    def _refresh(self, kid: str | None, header: Mapping[str, Any], known: Any) -> Generator[Effect, Any, Any]:
        try:
            yield Effect(self._fetch_once, self._afetch_once, ())
        except ServiceUnavailableError:
            if known is not None:
                return known
            raise
        key = self._lookup(kid, header)
        if key is None:
            raise AuthenticationError("unknown key id")
        return key

    # Single flight: concurrent requests that need the key set wait for the one fetch in flight.
    def _join(self) -> tuple[Future[None], bool]:
        with self._lock:
            flight = self._flight
            if flight is not None and not flight.done():
                return flight, False
            self._flight = flight = Future()
            self._attempted_at = self._clock()
            return flight, True

    def _land(self, flight: Future[None], document: Any) -> None:
        """Install what the leader fetched (a document, or the exception it raised)."""
        try:
            if isinstance(document, Exception):
                raise document
            self.install(document)
        except Exception as exc:  # any failure refuses with 503 (fail closed)
            self._failed = True
            flight.set_exception(exc if isinstance(exc, ServiceUnavailableError)
                                 else ServiceUnavailableError(f"jwks: {type(exc).__name__}"))
        else:
            self._failed = False
            flight.set_result(None)

    def _fetch_once(self) -> None:
        flight, leader = self._join()
        if leader:
            try:
                document = self._fetch(self.url, self.timeout)
            except Exception as exc:
                document = exc
            self._land(flight, document)
        flight.result(timeout=self.timeout + 1)

    async def _afetch_once(self) -> None:
        flight, leader = self._join()
        if leader:
            try:
                document = await asyncio.to_thread(self._fetch, self.url, self.timeout)
            except Exception as exc:
                document = exc
            self._land(flight, document)
        await asyncio.wait_for(asyncio.wrap_future(flight), self.timeout + 1)

    def install(self, document: Any) -> None:
        """Replace the cached keys with those of a JWKS document usable for this family."""
        import jwt  # not with the module: pyjwt loads only where tokens are configured

        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ServiceUnavailableError("jwks: not a JWK Set")
        keys: dict[str | None, tuple[Any, str | None]] = {}
        for item in document["keys"]:
            if not isinstance(item, dict) or item.get("kty") != _KTY[self.family]:
                continue
            if item.get("use", "sig") != "sig":
                continue
            try:
                keys[item.get("kid")] = (jwt.PyJWK(item).key, item.get("alg"))
            except jwt.PyJWTError:
                continue  # an unusable key is skipped; tokens naming it are refused
        with self._lock:
            self._keys = keys
            self._fetched_at = self._clock()

    def _lookup(self, kid: str | None, header: Mapping[str, Any]) -> Any:
        keys = self._keys
        entry = keys.get(kid)
        if entry is None and kid is None and len(keys) == 1:
            entry = next(iter(keys.values()))
        if entry is None:
            return None
        key, alg = entry
        if alg is not None and alg != header.get("alg"):
            raise AuthenticationError("key not valid for this algorithm")
        return key
