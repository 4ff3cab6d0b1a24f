"""The failed-credential throttle: limit guessing without ever refusing what verifies.

Two counters live in the store, so every worker and host shares them:

- per client (``throttle:<address>``): credentials that fail the way a guess fails (a bad
  signature, a malformed token, an unknown API key) on any rule, public ones included, and
  failed logins the app reports with :func:`routeguard.login_failed`;
- per username (``throttle:user:<digest>``): failed logins for that username.

Honest failures never count: a credential the app issued that is expired, revoked, logged out
or whose user is disabled (:attr:`AuthenticationError.genuine`). A client over its limit gets
429 with ``Retry-After`` for its further guessed credentials and for its POSTs to
``login_url``; its valid credentials keep working on protected routes and are ignored on
public ones (the page answers, anonymously, and shows no guess whether it was right). A
username over its limit gets 429 on POSTs to ``login_url`` that name it (Authelia's
regulation, django-axes); a successful :func:`routeguard.login` resets it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import time
import unicodedata
from collections.abc import Awaitable, Callable, Generator, MutableMapping
from io import BytesIO
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl

from ..core.engine import AuthResult
from ..core.override import OverrideError, override_methods
from ..core.request import RequestView
from ..errors import ServiceUnavailableError
from ..stores import Store
from .audit import logger, printable
from .cache import TTLCache
from .effects import Effect

if TYPE_CHECKING:
    from ..policy.settings import ThrottleConfig

#: The largest login body the guard reads to find the username (a login form is tiny).
MAX_LOGIN_BODY: Final = 64 * 1024
_MAX_FIELDS: Final = 256
_CACHE_SIZE: Final = 10_000

Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def client_key(client: str) -> str:
    """The store key counting one client's failures."""
    return "throttle:" + client


def client_id(address: str) -> str:
    """The client an address counts as: an IPv6 address by its /64 (one host or home network
    gets a whole /64 and can rotate through it, RG-2026-31), an IPv4-mapped one as IPv4."""
    if ":" not in address:
        return address
    try:
        ip = ipaddress.IPv6Address(address)
    except ValueError:
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))


def username_key(username: str) -> str:
    """The store key counting one username's failed logins (case, spaces and Unicode
    compatibility forms such as fullwidth letters do not matter, RG-2026-29)."""
    normalized = unicodedata.normalize("NFKC", username).strip().casefold().encode("utf-8", "surrogateescape")
    return "throttle:user:" + hashlib.sha256(normalized).hexdigest()[:32]


class Throttle:
    """The throttle of one guard: which client a request comes from, what it may still do."""

    def __init__(self, config: ThrottleConfig, store: Store, login_url: str | None) -> None:
        self.config = config
        self.store = store
        paths = [*([login_url.partition("?")[0]] if login_url is not None else []), *config.login_paths]
        self.login_paths = frozenset(_slashless(path) for path in paths)
        self.proxies: Networks = tuple(ipaddress.ip_network(p, strict=False) for p in config.trusted_proxies)
        # Clients this process saw go over the limit, until when: a guessed credential from a
        # locked client costs no store round trip, and valid requests never touch the store.
        self._lockouts: TTLCache[float] = TTLCache(_CACHE_SIZE)

    def client(self, request: RequestView) -> str:
        """The client: the peer, or the forwarded address when the peer is a trusted proxy.

        Without ``trusted_proxies`` behind a proxy, every client is the proxy's address and
        shares one counter: a guesser then locks out the guessing of everyone, never their
        valid credentials.
        """
        peer = request.client or "unknown"
        if not self.proxies or not _in_networks(peer, self.proxies):
            return client_id(peer)
        forwarded = request.headers.get("x-forwarded-for")
        if not forwarded:
            return client_id(peer)
        hops = [hop.strip() for hop in forwarded.split(",")]
        for hop in reversed(hops):  # the rightmost address no trusted proxy added
            if not _in_networks(hop, self.proxies):
                return client_id(hop)
        return client_id(hops[0] or peer)

    def locked(self, client: str) -> int | None:
        """Seconds left of a lockout this process knows of (no I/O), or None."""
        if not len(self._lockouts):
            return None
        now = time.time()
        until = self._lockouts.get(client, now)
        return None if until is None else _seconds(until - now)

    def lockout(self, request: RequestView) -> int | None:
        """:meth:`locked` for the request's client; nothing to compute while no one is locked."""
        return self.locked(self.client(request)) if len(self._lockouts) else None

    def count_guess(self, client: str) -> Generator[Effect, Any, int | None]:
        """Count one guessed credential: Retry-After seconds once the client is over the limit."""
        known = self.locked(client)
        if known is not None:
            return known
        key = client_key(client)
        try:
            failures = yield self.store.incr_effect(key, self.config.window)
            if failures <= self.config.max_failures:
                return None
            remaining = yield self.store.ttl_effect(key)
        except ServiceUnavailableError:
            return None  # the credential is refused as invalid anyway
        return self._lock(client, remaining, self.config.window)

    def is_login_post(self, request: RequestView) -> bool:
        """A POST to ``login_url`` or a ``login_paths`` entry: where passwords are guessed (also a
        request whose method override may turn it into one, RG-2026-17)."""
        if (request.path.rstrip("/") or "/") not in self.login_paths:  # _slashless, inline: every request asks
            return False
        if request.method == "POST":
            return True
        try:
            return "POST" in override_methods(request)
        except OverrideError:
            return False  # refused as a bad request anyway

    def reads_body(self, request: RequestView) -> bool:
        """A login POST: its body may name the username, whatever its declared content type
        (Starlette and FastAPI read JSON without one, RG-2026-29)."""
        return self.is_login_post(request)

    def usernames(self, request: RequestView, body: bytes | None) -> tuple[str, ...] | None:
        """The username(s) the login POST ``body`` and query string name (see :func:`usernames_in`); None when
        the body could not be read (over :data:`MAX_LOGIN_BODY`, unparsable multipart): the
        guard then refuses the login rather than let it past the per-username limit."""
        if body is None:
            return None
        field = self.config.username_field
        found = usernames_in(request.headers.get("content-type"), body, field)
        if found is None or not request.query:
            return found
        # werkzeug's request.values reads the query string first (RG-2026-33)
        in_query = _ends([v for k, v in parse_qsl(request.query, errors="replace") if k == field])
        return tuple(dict.fromkeys((*in_query, *found)))

    def login_refusal(self, client: str, usernames: tuple[str, ...]) -> Generator[Effect, Any, int | None]:
        """Retry-After seconds when the client or a username of a login POST is over its limit.

        A store failure raises :class:`ServiceUnavailableError`: a login is never let through
        unthrottled.
        """
        known = self.locked(client)
        if known is not None:
            return known
        store = self.store
        key = client_key(client)
        failures = yield store.get_effect(key)
        if failures is not None and int(failures) >= self.config.max_failures:
            return self._lock(client, (yield store.ttl_effect(key)), self.config.window)
        for username in usernames:
            key = username_key(username)
            failures = yield store.get_effect(key)
            if failures is not None and int(failures) >= self.config.username_max_failures:
                return _seconds((yield store.ttl_effect(key)), self.config.username_window)
        return None

    def login_failed(self, client: str, username: str) -> Generator[Effect, Any, int | None]:
        """Count a failed login for the client and the username: Retry-After seconds when
        either is now over its limit (its next login POST gets 429), else None."""
        store, config = self.store, self.config
        key = username_key(username)
        by_user = yield store.incr_effect(key, config.username_window)
        by_client = yield store.incr_effect(client_key(client), config.window)
        waits = []
        if by_client >= config.max_failures:
            waits.append(self._lock(client, (yield store.ttl_effect(client_key(client))), config.window))
        if by_user >= config.username_max_failures:
            waits.append(_seconds((yield store.ttl_effect(key)), config.username_window))
        return max(waits) if waits else None

    def login_succeeded(self, username: str) -> Generator[Effect, Any, None]:
        """Reset the username's counter (never the client's: logging in to one's own account
        must not buy a guesser fresh tries)."""
        yield self.store.delete_effect(username_key(username))

    def _lock(self, client: str, remaining: float | None, window: int) -> int:
        seconds = _seconds(remaining, window)
        until = time.time() + seconds
        self._lockouts.set(client, until, until)
        return seconds


def _slashless(path: str) -> str:
    """A path without its trailing slash: ``/login/`` is the login form of ``/login`` (as rules match)."""
    return path.rstrip("/") or "/"


def _seconds(remaining: float | None, default: int = 1) -> int:
    """Whole seconds to wait, at least one (``default`` when the store did not say)."""
    return default if remaining is None else max(1, int(remaining + 0.999))


def _in_networks(address: str, networks: Networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


# -- the username of a login POST -------------------------------------------------------------
def usernames_in(content_type: str | None, body: bytes, field: str) -> tuple[str, ...] | None:
    """The values of ``field`` in a login body: the first and the last, as frameworks disagree
    on which a repeated field means (werkzeug the first, Django and Starlette the last).

    Every reading an app may give the body counts (RG-2026-29): a multipart form (werkzeug's
    parser; None when it cannot be parsed, so the login is refused), else both a form-encoded
    and a JSON reading (any UTF encoding, a BOM, no field limit), whatever the content type says.
    """
    if (content_type or "").partition(";")[0].strip().lower() == "multipart/form-data":
        values = _multipart_values(content_type or "", body, field)
        if values is None:
            return None
    else:
        values = _form_values(body, field) + _json_values(body, field)
    return tuple(dict.fromkeys(values))


def _ends(values: list[str]) -> list[str]:
    return [values[0], values[-1]] if values else []


def _form_values(body: bytes, field: str) -> list[str]:
    text = body.decode("utf-8", "replace")
    return _ends([v for k, v in parse_qsl(text, errors="replace") if k == field])


def _json_values(body: bytes, field: str) -> list[str]:
    top: list[tuple[str, Any]] = []

    def members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        top[:] = pairs  # objects are built innermost first: the last call is the document
        return dict(pairs)

    try:
        document = json.loads(body, object_pairs_hook=members)  # bytes: UTF-8/16/32, BOM, as json.loads
    except (ValueError, RecursionError):
        return []
    if not isinstance(document, dict):
        return []
    return _ends([v for k, v in top if k == field and isinstance(v, str)])


def _multipart_values(content_type: str, body: bytes, field: str) -> list[str] | None:
    from werkzeug.formparser import parse_form_data

    environ = {"wsgi.input": BytesIO(body), "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": content_type,
               "REQUEST_METHOD": "POST"}
    try:
        _, form, _ = parse_form_data(environ, silent=False, max_form_parts=_MAX_FIELDS)
    except Exception:  # malformed, no boundary, too many parts: the app may read it otherwise
        return None
    return _ends([v for v in form.getlist(field) if isinstance(v, str)])


def wsgi_login_body(environ: MutableMapping[str, Any]) -> bytes | None:
    """Read a small WSGI request body and put it back for the app; None when it is larger than
    :data:`MAX_LOGIN_BODY` (a chunked body, ``wsgi.input_terminated``, is read up to it)."""
    declared = environ.get("CONTENT_LENGTH")
    try:
        length = int(declared) if declared else -1
    except ValueError:
        return None
    if length < 0:
        if not environ.get("wsgi.input_terminated"):
            return b""  # PEP 3333: no length, no body the app can read
        length = MAX_LOGIN_BODY + 1
    elif length > MAX_LOGIN_BODY:
        return None
    body: bytes = environ["wsgi.input"].read(length) if length else b""
    if len(body) > MAX_LOGIN_BODY:
        return None  # the login is refused: the app never reads the rest
    environ["wsgi.input"] = BytesIO(body)
    return body


Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


async def asgi_login_body(receive: Receive) -> tuple[bytes | None, Receive]:
    """Read a small ASGI request body; a ``receive`` that replays it to the app."""
    messages: list[MutableMapping[str, Any]] = []
    size = 0
    complete = False
    while size <= MAX_LOGIN_BODY:
        message = await receive()
        messages.append(message)
        if message.get("type") != "http.request":
            break
        size += len(message.get("body") or b"")
        if not message.get("more_body"):
            complete = size <= MAX_LOGIN_BODY
            break
    body = b"".join(m.get("body") or b"" for m in messages if m.get("type") == "http.request")
    pending = list(messages)

    async def replay() -> MutableMapping[str, Any]:
        if pending:
            return pending.pop(0)
        return await receive()

    return (body if complete else None), replay


def guess_verdict(
    throttle: Throttle, request: RequestView, auth: AuthResult, public: bool, report: bool
) -> Generator[Effect, Any, tuple[AuthResult, tuple[int, str] | None]]:
    """The throttle step after authentication: count a guessed credential and say how long the
    client must wait (a protected rule answers 429); on a public rule a locked-out client's
    credentials are ignored (and its cookies withheld). Valid credentials are never refused."""
    if auth.invalid is not None:
        if auth.genuine:
            return auth, None  # expired, revoked, logged out: an honest 401, never a guess
        wait = yield from throttle.count_guess(throttle.client(request))
        if wait is None or public:
            return auth, None  # a public page ignores the invalid credential and answers
        return auth, (wait, "too many failed credentials")
    if auth.identity is None or throttle.lockout(request) is None:
        return auth, None
    if report:
        logger.info("would ignore the credentials of a locked-out client on %s", printable(request.path))
        return auth, None
    # No oracle: the public page answers as if no credential was sent.
    return AuthResult(withheld=tuple(request.cookie_reads or ())), None
