"""Requests as servers build them, and calling apps in process (once, or in timed batches)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from time import perf_counter_ns
from typing import Any

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]
WSGIApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


# -- requests --------------------------------------------------------------------------------------
def http_scope(method: str, path: str, headers: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
    """An ASGI http scope as uvicorn builds it."""
    base = [("host", "testserver"), ("user-agent", "bench/1.0"), ("accept", "*/*"), ("accept-encoding", "gzip")]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 51234),
        "scheme": "http",
        "method": method,
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in [*base, *headers]],
        "state": {},
    }


def wsgi_environ(method: str, path: str, headers: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
    """A WSGI environ as a server builds it (gunicorn/werkzeug keys)."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "RAW_URI": path,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "51234",
        "HTTP_HOST": "testserver",
        "HTTP_USER_AGENT": "bench/1.0",
        "HTTP_ACCEPT": "*/*",
        "HTTP_ACCEPT_ENCODING": "gzip",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers:
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", "Bearer " + token)]


def cookie(value: str) -> list[tuple[str, str]]:
    return [("cookie", "session=" + value)]


# -- calling apps in process -------------------------------------------------------------------------
async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _discard(message: MutableMapping[str, Any]) -> None:
    return None


def run_asgi_once(app: ASGIApp, scope: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]]]:
    """Status and headers of one call (for the decision checks, not for timing)."""
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(dict(scope), _receive, send))  # type: ignore[arg-type]
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], list(start.get("headers", []))


def run_wsgi_once(app: WSGIApp, environ: dict[str, Any]) -> int:
    status: list[str] = []

    def start_response(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        status.append(line)

    drain(app(dict(environ), start_response))
    return int(status[0].split()[0])


def drain(body: Iterable[bytes]) -> None:
    """Consume a WSGI body iterable and close it, as a server does."""
    try:
        for _ in body:
            pass
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


def asgi_batch(app: ASGIApp, scope: dict[str, Any], loop: asyncio.AbstractEventLoop) -> Callable[[int], int]:
    """A function running ``n`` calls of ``app`` on ``scope`` and returning the elapsed ns.

    Timing happens inside the coroutine, so the event loop's own start-up is not counted. The
    scope is copied per call (apps write into it), in every configuration alike.
    """
    async def batch(n: int) -> int:
        receive, send = _receive, _discard
        start = perf_counter_ns()
        for _ in range(n):
            await app(scope.copy(), receive, send)
        return perf_counter_ns() - start

    return lambda n: loop.run_until_complete(batch(n))


def wsgi_batch(app: WSGIApp, environ: dict[str, Any]) -> Callable[[int], int]:
    """Like :func:`asgi_batch` for WSGI: call, drain the body iterable, close it."""
    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return None

    def batch(n: int) -> int:
        start = perf_counter_ns()
        for _ in range(n):
            drain(app(environ.copy(), start_response))
        return perf_counter_ns() - start

    return batch
