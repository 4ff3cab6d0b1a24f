"""The example apps as the e2e servers run them, with two observation-only shims.

``uvicorn tests.e2e.served:fastapi_app`` and ``gunicorn tests.e2e.served:flask_app`` serve the
unchanged examples (same policy files, same middleware order). The shims never change a
decision; they only let a test see who answered:

- ``x-e2e-handler: 1`` is added by a layer *inside* the guard, next to the app's router, so
  a response carrying it was produced after the guard let the request through, and a
  response without it was written by the guard (or by the server) without the app running.
- ``x-e2e-pid`` is added *outside* the guard with the worker's pid, so a test can tell the
  gunicorn workers apart and read each one's memory from ``/proc``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from starlette.middleware import Middleware

from examples.fastapi_app.app import app as _fastapi
from examples.flask_app.app import app as _flask

HANDLED = ("x-e2e-handler", "1")
_PID = ("x-e2e-pid", str(os.getpid()))


class _MarkHandled:
    """Pure ASGI layer just inside the guard: stamps responses the app produced."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def stamped(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"x-e2e-handler", b"1")]}
            await send(message)

        await self.app(scope, receive, stamped)


# user_middleware is outermost first; appending puts the marker innermost (after the guard
# and SessionMiddleware), before the middleware stack is built on the first request.
_fastapi.user_middleware.append(Middleware(_MarkHandled))


async def fastapi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        await _fastapi(scope, receive, send)
        return

    async def with_pid(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            pid = (_PID[0].encode(), str(os.getpid()).encode())
            message = {**message, "headers": [*message.get("headers", []), pid]}
        await send(message)

    await _fastapi(scope, receive, with_pid)  # type: ignore[arg-type]


def _stamp(start_response: Callable[..., Any], header: tuple[str, str]) -> Callable[..., Any]:
    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return start_response(status, [*headers, header], exc_info)

    return start


_guard = _flask.wsgi_app  # the WSGIGuard the example installed
_inner = _guard.app  # type: ignore[attr-defined]
_guard.app = lambda environ, start_response: _inner(environ, _stamp(start_response, HANDLED))  # type: ignore[attr-defined]


def flask_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    return _flask(environ, _stamp(start_response, ("x-e2e-pid", str(os.getpid()))))
