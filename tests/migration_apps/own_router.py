"""Apps with their own hand-written router (no framework routeguard can read), which make their
own access decisions from ``routeguard.identity``: the source of truth a decision log records.

Both speak the same routes:

- ``GET /health``, ``GET /docs/...`` (any depth): everyone
- ``GET /users/<id>``: any signed-in user; ``PUT /users/<id>``: admins only
- ``GET /reports/<year>``: role ``auditor`` or ``admin``
- ``GET /admin/stats``: admins only
- anything else: 404
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def answer(method: str, path: str, identity: Any) -> int:
    """The status the app answers."""
    roles = set(identity.roles) if identity is not None else set()
    parts = [p for p in path.split("/") if p]
    signed_in = 200 if identity is not None else 401

    def only(*allowed: str) -> int:
        return signed_in if signed_in != 200 else (200 if roles & set(allowed) else 403)

    if method == "GET" and parts == ["health"]:
        return 200
    if method == "GET" and parts[:1] == ["docs"]:
        return 200
    if len(parts) == 2 and parts[0] == "users" and parts[1].isdigit():
        return signed_in if method == "GET" else only("admin") if method == "PUT" else 405
    if method == "GET" and len(parts) == 2 and parts[0] == "reports":
        return only("auditor", "admin")
    if method == "GET" and parts == ["admin", "stats"]:
        return only("admin")
    return 404


async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    status = answer(scope["method"], scope["path"], scope.get("routeguard.identity"))
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": str(status).encode()})


def wsgi_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    status = answer(environ["REQUEST_METHOD"], environ.get("PATH_INFO") or "/", environ.get("routeguard.identity"))
    start_response(f"{status} X", [("Content-Type", "text/plain")])
    return [str(status).encode()]
