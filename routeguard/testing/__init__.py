"""Test helpers for apps behind routeguard; also a pytest plugin (entry point ``routeguard``).

Mint credentials a policy accepts and send requests exactly as a server would (the raw target
reaches the guard unnormalized)::

    from routeguard.testing import assert_access, call_asgi, credentials
    reply = call_asgi(app, "GET", "/admin", headers=credentials(policy, Identity.of("root", roles=["admin"])))
    assert_access(app, {("GET", "/admin"): {"anonymous": 401, "user": 403, "admin": 200}})

As a pytest plugin it adds the ``routeguard_policy`` ini key and the ``routeguard_policy``,
``routeguard_credentials`` and ``routeguard_assert_access`` fixtures (see
:mod:`routeguard._pytest_plugin`). Importing this module has no side effects.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, unquote_to_bytes

import itsdangerous
import jwt

from ..errors import CredentialError
from .access import (
    Credentials,
    assert_access,
    bearer_headers,
    credentials,
    find_policy,
    identity_named,
    session_headers,
)

__all__ = [
    "CredentialError",
    "Credentials",
    "Reply",
    "asgi_scope",
    "assert_access",
    "bearer_headers",
    "call_asgi",
    "call_wsgi",
    "credentials",
    "find_policy",
    "identity_named",
    "mint_token",
    "session_cookie",
    "session_headers",
    "wsgi_environ",
]

Headers = Mapping[str, str] | Sequence[tuple[str, str]]


def mint_token(
    key: Any,
    *,
    subject: str = "alice",
    roles: Iterable[str] = (),
    permissions: Iterable[str] | None = None,
    tenants: Iterable[str] = (),
    ttl: float = 300,
    algorithm: str = "HS256",
    headers: Mapping[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A signed JWT with routeguard's default claim names (``sub``, ``roles``, ``scope``,
    ``tenants``) expiring in ``ttl`` seconds. Extra keyword arguments become claims; a claim
    given as None is left out."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": subject,
        "roles": list(roles),
        "tenants": list(tenants),
        "iat": now,
        "exp": now + int(ttl),
    }
    if permissions is not None:
        payload["scope"] = " ".join(permissions)
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm=algorithm, headers=dict(headers) if headers else None)


def session_cookie(
    secret: str,
    data: Mapping[str, Any],
    *,
    format: str = "starlette",
    signed_at: float | None = None,
) -> str:
    """A session cookie value as Starlette's ``SessionMiddleware`` or Flask would write it."""
    if format == "starlette":
        payload = base64.b64encode(json.dumps(dict(data)).encode())
        signer = itsdangerous.TimestampSigner(str(secret))
        if signed_at is not None:
            signer.get_timestamp = lambda: int(signed_at)  # type: ignore[method-assign]
        return signer.sign(payload).decode()
    if format == "flask":
        serializer = itsdangerous.URLSafeTimedSerializer(
            secret,
            salt="cookie-session",
            serializer=json,
            signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha1},
        )
        if signed_at is not None:
            flask_signer = serializer.make_signer()
            flask_signer.get_timestamp = lambda: int(signed_at)  # type: ignore[attr-defined]
            return flask_signer.sign(serializer.dump_payload(dict(data))).decode()
        return str(serializer.dumps(dict(data)))
    raise ValueError(f"unknown session format {format!r}")


@dataclass
class Reply:
    """A response as the client sees it; ``headers`` has lower-case names."""

    status: int
    headers: dict[str, str]
    body: bytes
    raw_headers: list[tuple[str, str]] = field(default_factory=list)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def _header_pairs(headers: Headers | None) -> list[tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        return list(headers.items())
    return list(headers)


def asgi_scope(
    method: str,
    target: str,
    headers: Headers | None = None,
    *,
    root_path: str = "",
    kind: str = "http",
    client: tuple[str, int] = ("127.0.0.1", 50000),
    extensions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An ASGI scope as uvicorn builds it from a raw request target."""
    raw_path, _, query = target.partition("?")
    scope: dict[str, Any] = {
        "type": kind,
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": "http" if kind == "http" else "ws",
        "root_path": root_path,
        "path": root_path + unquote(raw_path),
        "raw_path": (root_path + raw_path).encode("latin-1") if root_path else raw_path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "headers": [(b"host", b"testserver")]
        + [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in _header_pairs(headers)],
        "client": client,
        "server": ("testserver", 80),
        "state": {},
    }
    if kind == "http":
        scope["method"] = method
    else:
        scope["subprotocols"] = []
    if extensions is not None:
        scope["extensions"] = dict(extensions)
    return scope


def _run(coroutine: Any) -> None:
    """``asyncio.run``, also from code already inside an event loop (an async test): then the
    request runs on a fresh loop in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)
        return
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def call_asgi(
    app: Callable[..., Any],
    method: str,
    target: str,
    headers: Headers | None = None,
    *,
    body: bytes = b"",
    root_path: str = "",
) -> Reply:
    """Send one HTTP request to an ASGI app and collect the response."""
    scope = asgi_scope(method, target, headers, root_path=root_path)
    messages: list[dict[str, Any]] = []
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    _run(app(scope, receive, send))
    start = next(m for m in messages if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in start.get("headers", [])]
    return Reply(start["status"], {k.lower(): v for k, v in pairs}, content, pairs)


def wsgi_environ(
    method: str,
    target: str,
    headers: Headers | None = None,
    *,
    script_name: str = "",
    body: bytes = b"",
) -> dict[str, Any]:
    """A WSGI environ as gunicorn builds it from a raw request target."""
    import io

    raw_path, _, query = target.partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": script_name,
        "PATH_INFO": unquote_to_bytes(raw_path).decode("latin-1"),
        "QUERY_STRING": query,
        "RAW_URI": script_name + target,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in _header_pairs(headers):
        key = name.upper().replace("-", "_")
        key = key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"
        if key in environ and key.startswith("HTTP_"):
            value = environ[key] + ("; " if key == "HTTP_COOKIE" else ", ") + value
        environ[key] = value
    return environ


def call_wsgi(
    app: Callable[..., Any],
    method: str,
    target: str,
    headers: Headers | None = None,
    *,
    body: bytes = b"",
    script_name: str = "",
) -> Reply:
    """Send one HTTP request to a WSGI app, consume and close its iterable."""
    environ = wsgi_environ(method, target, headers, script_name=script_name, body=body)
    started: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started["status"] = int(status.split(" ", 1)[0])
        started["headers"] = response_headers
        return lambda data: None

    chunks = app(environ, start_response)
    try:
        content = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    pairs = list(started["headers"])
    return Reply(started["status"], {k.lower(): v for k, v in pairs}, content, pairs)
