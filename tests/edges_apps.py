"""Apps the advisory tests in test_advisory_edges.py serve under real servers."""

from __future__ import annotations

from typing import Any

from routeguard import Policy, WSGIGuard

SECRET = "edges-flask-secret-0123456789abcdef"
WEBSOCKET_POLICY = f"""
[auth.session]
format = "flask"
secret = "{SECRET}"

[[rules]]
path = "/health"
access = "public"

[[rules]]
path = "/ws"
"""


def websocket_app() -> Any:
    """A flask-sock websocket behind WSGIGuard: it sends the signed-in user's name and closes."""
    from flask import Flask, request
    from flask_sock import Sock

    app = Flask("edges")
    app.config["SECRET_KEY"] = SECRET
    sock = Sock(app)

    @app.get("/health")
    def health() -> str:
        return "ok"

    @sock.route("/ws")  # type: ignore[untyped-decorator]
    def ws(socket: Any) -> None:
        identity = request.environ["routeguard.identity"]
        socket.send(f"secret data of {identity.subject}")
        socket.close()

    app.wsgi_app = WSGIGuard(app.wsgi_app, policy=Policy.from_toml_string(WEBSOCKET_POLICY))  # type: ignore[method-assign]
    return app


PREFIX_POLICY = """
login_url = "/login"

[[rules]]
path = "/login"
access = "public"

[[rules]]
path = "/health"
access = "public"

[[rules]]
path = "/**"
"""


def prefix_asgi_app() -> Any:
    """A Starlette app behind ASGIGuard (uvicorn ``--factory``; ``--root-path`` under test)."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from routeguard import ASGIGuard

    async def ok(request: Any) -> Any:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/health", ok), Route("/login", ok), Route("/dashboard", ok)])
    return ASGIGuard(app, policy=Policy.from_toml_string(PREFIX_POLICY))
