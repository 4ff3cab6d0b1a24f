"""ASGIGuard: pure ASGI middleware (no BaseHTTPMiddleware) for http and websocket scopes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Final

from starlette.authentication import AuthCredentials, UnauthenticatedUser

from .backends.bearer import SUBPROTOCOL, without_token
from .core.decision import Decision
from .core.identity import auth_scopes
from .core.request import HeaderMap, RequestView, route_path, without_cookies
from .core.responses import Response
from .runtime.cache import SHORT, Memo
from .runtime.effects import resume_async
from .runtime.guard import Guard
from .runtime.lane import plain_path
from .runtime.throttle import asgi_login_body

if TYPE_CHECKING:  # pydantic loads with the first Policy, not with the adapter
    from .policy.model import Policy

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_ANONYMOUS_USER = UnauthenticatedUser()
# What a request's header names tell the lane (see ASGIGuard._read_names).
_UNUSUAL: Final = "unusual"  # an upper-case name: the pipeline reads the headers
_QUIET: Final = "quiet"  # none of the headers the lane watches: it decides with headers=None
_WATCHED: Final = "watched"  # one of them: it reads them
_DENIAL_EXTENSION = "websocket.http.response"
_POLICY_VIOLATION = 1008


class ScopeHeaders(HeaderMap):
    """The headers of an ASGI scope by lower-case name, decoded only when looked up.

    A guarded request reads several headers (``authorization``, ``cookie``, the three method
    override headers, ``accept`` on refusal): the raw list is scanned once, on the first
    lookup, into a dict of raw values by lower-case name; a value is decoded when looked up.
    Repeated headers are joined (``cookie`` with ``; ``, others with ``, ``).
    """

    __slots__ = ("_all", "_index", "_raw")

    def __init__(self, raw: Iterable[tuple[bytes, bytes]], index: dict[bytes, bytes] | None = None) -> None:
        self._raw = raw
        self._index = index  # given: already scanned (lower-case, unrepeated names)
        self._all: dict[str, str] | None = None

    def _scan(self) -> dict[bytes, bytes]:
        raw = self._raw
        if isinstance(raw, list):  # as servers send them: one C-level pass when the names are
            index = dict(raw)  # all lower-case (the ASGI spec's rule) and none is repeated
            if len(index) == len(raw) and b"".join(index).islower():
                self._index = index
                return index
        index = {}
        for raw_name, raw_value in raw:
            name = raw_name.lower()
            before = index.get(name)
            index[name] = raw_value if before is None else before + (b"; " if name == b"cookie" else b", ") + raw_value
        self._index = index
        return index

    def get(self, name: str, default: Any = None) -> Any:
        index = self._index
        if index is None:
            index = self._scan()
        found = index.get(_NAMES.get(name) or name.lower().encode("latin-1"))
        return default if found is None else found.decode("latin-1")

    def any_of(self, names: frozenset[str]) -> bool:
        """Whether any header of ``names`` (lower-case) is present: one set operation."""
        index = self._index
        if index is None:
            index = self._scan()
        return not index.keys().isdisjoint(_ENCODED.get(names) or _ENCODED(names))

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value  # type: ignore[no-any-return]

    def _decoded(self) -> dict[str, str]:
        if self._all is None:
            headers: dict[str, str] = {}
            for raw_name, raw_value in self._raw:
                name = raw_name.decode("latin-1").lower()
                value = raw_value.decode("latin-1")
                if name in headers:
                    value = headers[name] + ("; " if name == "cookie" else ", ") + value
                headers[name] = value
            self._all = headers
        return self._all

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())


_ENCODED: Memo[frozenset[str], frozenset[bytes]] = Memo(lambda names: frozenset(n.encode("latin-1") for n in names))
_NAMES: dict[str, bytes] = {
    n: n.encode()
    for n in ("authorization", "cookie", "accept", "origin", "host", "x-http-method-override", "x-http-method",
              "x-method-override")
}


def _short_names(names: tuple[bytes, ...]) -> bool:
    """Whether a request's header names are few and short enough to remember (a browser's are)."""
    return len(names) <= 64 and sum(map(len, names)) <= 4 * SHORT


def request_from_scope(scope: Mapping[str, Any], headers: ScopeHeaders | None = None) -> RequestView:
    """The request view of an ``http`` or ``websocket`` scope (``headers``: already indexed)."""
    raw = scope.get("raw_path")
    prefix = scope.get("root_path") or ""
    client = scope.get("client")
    websocket = scope["type"] == "websocket"
    return RequestView(
        method="GET" if websocket else scope["method"].upper(),  # as werkzeug and Django dispatch
        path=route_path(scope["path"], prefix),
        raw_path=raw.decode("latin-1").partition("?")[0] if raw is not None else None,
        query=(scope.get("query_string") or b"").decode("latin-1"),
        headers=headers if headers is not None else ScopeHeaders(scope.get("headers") or ()),
        prefix=prefix,
        client=client[0] if client else None,
        scheme=scope.get("scheme") or ("ws" if websocket else "http"),
        websocket=websocket,
    )


class _Credentials(AuthCredentials):
    """Starlette's ``request.auth`` for one role and permission set, shared by the requests of
    every identity that has it: so it is frozen (its scopes a tuple, no attribute assignable),
    and no request can change what another one sees."""

    __slots__ = ()

    def __init__(self, scopes: tuple[str, ...]) -> None:
        object.__setattr__(self, "scopes", scopes)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"routeguard's request.auth is read-only (set {name!r} on a copy)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("routeguard's request.auth is read-only")


#: ``scope["auth"]`` of every anonymous request: read-only too (RG-2026-35).
_NO_CREDENTIALS: Final = _Credentials(())
#: ``scope["auth"]`` by (roles, permissions): the sorted scopes computed once per role set.
_AUTH: Memo[tuple[frozenset[str], frozenset[str]], AuthCredentials] = Memo(lambda key: _Credentials(auth_scopes(key)))


def _without_cookies(raw: Iterable[tuple[bytes, bytes]], names: tuple[str, ...]) -> list[tuple[bytes, bytes]]:
    """The scope's headers with the cookies ``names`` removed from every ``cookie`` header."""
    headers = []
    for name, value in raw:
        if name.lower() == b"cookie":
            kept = without_cookies(value.decode("latin-1"), names)
            if not kept:
                continue
            value = kept.encode("latin-1")
        headers.append((name, value))
    return headers


async def _logged(app: ASGIApp, scope: Scope, receive: Receive, send: Send, decision: Decision,
                  request: RequestView, guard: Guard) -> None:
    """Run the app, learning the status it answers (101 for an accepted websocket, 403 for one
    closed before accept, 500 when it fails before answering), then log the decision."""
    status: int | None = None

    async def watch(message: Message) -> None:
        nonlocal status
        if status is None:
            kind = message.get("type")
            if kind in ("http.response.start", "websocket.http.response.start"):
                status = int(message.get("status", 200))
            elif kind == "websocket.accept":
                status = 101
            elif kind == "websocket.close":
                status = 403
        await send(message)

    try:
        await app(scope, receive, watch)
    finally:
        guard.log_decision(decision, request, status if status is not None else 500)


class ASGIGuard:
    """Guards any ASGI app: ``app = ASGIGuard(app, policy=policy)``.

    With Starlette or FastAPI: ``app.add_middleware(ASGIGuard, policy=policy)``. Allowed
    requests reach the app with ``scope["routeguard.identity"]`` (an :class:`Identity` or
    None), plus ``scope["user"]`` and ``scope["auth"]`` for Starlette's ``request.user`` and
    ``@requires``. ``lifespan`` and other scope types pass straight through.
    """

    def __init__(self, app: ASGIApp, policy: Policy) -> None:
        self.app = app
        self.policy = policy
        self.guard = Guard.for_policy(policy)
        lane = self.guard.lane  # the headers the plain lane must see, as the server names them
        self._watched = _ENCODED(lane.watched) if lane is not None else frozenset()
        #: What a request's header names (distinct, in order) tell the lane, remembered: clients
        #: send the same names request after request.
        self._names: Memo[tuple[bytes, ...], str] = Memo(self._read_names, maxsize=1024, keep=_short_names)
        # A bearer token offered as a websocket subprotocol is the guard's: the app never sees it.
        self._subprotocol = any(getattr(b, "websocket_subprotocol", False) is True for b in self.guard.backends)

    def counters(self) -> dict[tuple[int | None, str, bool], int]:
        """Decisions so far by (rule position or None, outcome, report_only), for a dashboard."""
        return self.guard.counters()

    def _read_names(self, names: tuple[bytes, ...]) -> str:
        """:data:`_UNUSUAL` unless every name is lower-case, as servers send them (the pipeline
        then reads the headers); else whether one of them is a header the lane watches."""
        if not b"".join(names).islower():
            return _UNUSUAL
        return _QUIET if self._watched.isdisjoint(names) else _WATCHED

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        guard = self.guard
        headers = None
        decision = None
        request: RequestView | None = None  # the view the pipeline judged (None: the lane decided)
        lane = guard.lane
        if lane is not None and kind == "http" and not scope.get("root_path"):
            path = scope["path"]
            raw = scope.get("raw_path")
            listed = scope.get("headers")
            if ((plain_path.get(path) or plain_path(path)) and (raw is None or raw == path.encode("ascii"))
                    and type(listed) is list):
                index = dict(listed)
                if len(index) == len(listed):  # no name repeated
                    names = tuple(index)
                    seen = self._names.get(names) or self._names(names)
                    if seen is not _UNUSUAL:
                        if seen is _WATCHED:
                            headers = ScopeHeaders(listed, index)
                        query = scope.get("query_string")
                        decision = lane.decide(scope["method"], path, headers,
                                               query.decode("latin-1") if query else "")
        if decision is None:
            try:
                request = request_from_scope(scope, headers)
                usernames: tuple[str, ...] | None = ()
                throttle = guard.throttle
                if throttle is not None and kind == "http" and throttle.reads_body(request):
                    body, receive = await asgi_login_body(receive)  # replayed to the app
                    usernames = throttle.usernames(request, body)
                flow = guard.evaluate(request, usernames)
                try:
                    effect = next(flow)
                except StopIteration as done:  # decided without I/O: no coroutine to await
                    decision = done.value
                else:
                    decision = await resume_async(flow, effect)
            except Exception as exc:
                request = RequestView(method=str(scope.get("method", "GET")), path="?")
                decision = guard.failed(exc)
            response = guard.finish(decision, request)
            if response is not None:
                if guard.decision_log is not None:
                    guard.log_decision(decision, request, response.status, response)
                if kind == "http":
                    await self._send_http(response, request, send)
                else:
                    await self._refuse_websocket(response, scope, receive, send)
                return
            # Allowed by the pipeline: rejected cookies and a subprotocol token out of the scope
            # (the lane allows only requests with neither).
            if decision.withheld:  # rejected cookies never reach the app (RG-2026-14)
                scope["headers"] = _without_cookies(scope.get("headers") or (), decision.withheld)
            if kind == "websocket" and self._subprotocol and SUBPROTOCOL in (scope.get("subprotocols") or ()):
                send = _consume_subprotocol(scope, send)
        # Allowed: the identity into the scope.
        identity = decision.identity
        scope["routeguard.identity"] = identity
        scope["routeguard.decision"] = decision
        scope["routeguard.guard"] = guard
        if identity is None:
            scope["user"] = _ANONYMOUS_USER
            scope["auth"] = _NO_CREDENTIALS
        else:
            scope["user"] = identity
            key = (identity.roles, identity.permissions)
            scope["auth"] = _AUTH.get(key) or _AUTH(key)
        if request is None or guard.decision_log is None:
            await self.app(scope, receive, send)
        else:
            await _logged(self.app, scope, receive, send, decision, request, guard)

    async def _send_http(self, response: Response, request: RequestView, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers],
            }
        )
        body = b"" if request.method == "HEAD" else response.body
        await send({"type": "http.response.body", "body": body})

    async def _refuse_websocket(self, response: Response, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()  # websocket.connect: the handshake is refused before accept
        if message.get("type") != "websocket.connect":
            return
        if _DENIAL_EXTENSION in (scope.get("extensions") or {}):
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": response.status,
                    "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers],
                }
            )
            await send({"type": "websocket.http.response.body", "body": response.body})
        else:
            await send({"type": "websocket.close", "code": _POLICY_VIOLATION})


def _consume_subprotocol(scope: Scope, send: Send) -> Send:
    """Hide ``bearer, <token>`` from the app's subprotocols (scope and header), and answer with
    ``bearer`` when the app accepts without choosing one: a browser requires the server to
    echo one of the subprotocols it offered."""
    remaining = without_token(list(scope["subprotocols"]))
    scope["subprotocols"] = remaining
    headers = [(k, v) for k, v in scope.get("headers") or () if k.lower() != b"sec-websocket-protocol"]
    if remaining:
        headers.append((b"sec-websocket-protocol", ", ".join(remaining).encode("latin-1")))
    scope["headers"] = headers

    async def echo(message: Message) -> None:
        if message.get("type") == "websocket.accept" and not message.get("subprotocol"):
            message = {**message, "subprotocol": SUBPROTOCOL}
        await send(message)

    return echo
