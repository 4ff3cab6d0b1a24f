"""ASGIGuard: pure ASGI middleware (no BaseHTTPMiddleware) for http and websocket scopes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from starlette.authentication import AuthCredentials, UnauthenticatedUser

from .config import Policy
from .effects import run_async
from .guard import Guard
from .request import RequestView, route_path
from .responses import Response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_ANONYMOUS_USER = UnauthenticatedUser()
_NO_CREDENTIALS = AuthCredentials()
_DENIAL_EXTENSION = "websocket.http.response"
_POLICY_VIOLATION = 1008


def request_from_scope(scope: Mapping[str, Any]) -> RequestView:
    """The request view of an ``http`` or ``websocket`` scope."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers") or ():
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if name in headers:
            value = headers[name] + ("; " if name == "cookie" else ", ") + value
        headers[name] = value
    raw = scope.get("raw_path")
    prefix = scope.get("root_path") or ""
    client = scope.get("client")
    websocket = scope["type"] == "websocket"
    return RequestView(
        method="GET" if websocket else scope["method"].upper(),  # as werkzeug and Django dispatch
        path=route_path(scope["path"], prefix),
        raw_path=raw.decode("latin-1").partition("?")[0] if raw is not None else None,
        query=(scope.get("query_string") or b"").decode("latin-1"),
        headers=headers,
        prefix=prefix,
        client=client[0] if client else None,
        scheme=scope.get("scheme") or ("ws" if websocket else "http"),
        websocket=websocket,
    )


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

    def counters(self) -> dict[tuple[int | None, str, bool], int]:
        """Decisions so far by (rule position or None, outcome, report_only), for a dashboard."""
        return self.guard.counters()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        guard = self.guard
        try:
            request = request_from_scope(scope)
            decision = await run_async(guard.evaluate(request))
        except Exception as exc:
            request = RequestView(method=str(scope.get("method", "GET")), path="?")
            decision = guard.failed(exc)
        response = guard.finish(decision, request)
        if response is None:
            identity = decision.identity
            scope["routeguard.identity"] = identity
            scope["routeguard.decision"] = decision
            scope["routeguard.guard"] = guard
            if identity is None:
                scope["user"] = _ANONYMOUS_USER
                scope["auth"] = _NO_CREDENTIALS
            else:
                scope["user"] = identity
                scope["auth"] = AuthCredentials(identity.scopes)
            await self.app(scope, receive, send)
        elif kind == "http":
            await self._send_http(response, request, send)
        else:
            await self._refuse_websocket(response, scope, receive, send)

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
