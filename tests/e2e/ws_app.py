"""A Starlette app with a browser page and a websocket behind ASGIGuard, for the browser
websocket test (``uvicorn tests.e2e.ws_app:app``); the JWT secret comes from the environment."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute

from routeguard import ASGIGuard, Policy

POLICY = """
[auth.bearer]
algorithms = ["HS256"]
secret_env = "RG_TEST_JWT_SECRET"
audience = "tests"
websocket_subprotocol = true

[[rules]]
path = "/"
methods = ["GET"]
access = "public"

[[rules]]
path = "/health"
methods = ["GET"]
access = "public"

[[rules]]
path = "/ws/**"
"""


async def page(request: Any) -> Any:
    return HTMLResponse("<!doctype html><title>ws</title><p>websocket test page</p>")


async def health(request: Any) -> Any:
    return PlainTextResponse("ok")


async def feed(websocket: Any) -> None:
    seen = list(websocket.scope["subprotocols"])
    await websocket.accept()  # no subprotocol chosen: the guard answers with "bearer"
    await websocket.send_json({"subject": websocket.scope["routeguard.identity"].subject, "subprotocols": seen})
    await websocket.close()


app = ASGIGuard(
    Starlette(routes=[Route("/", page), Route("/health", health), WebSocketRoute("/ws/feed", feed)]),
    policy=Policy.from_toml_string(POLICY),
)
