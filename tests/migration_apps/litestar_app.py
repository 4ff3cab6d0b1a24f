"""A Litestar app: a controller, path parameters with types, a router prefix and a mounted ASGI app."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Litestar, Router, asgi, delete, get, post, websocket
from litestar.connection import WebSocket
from litestar.params import FromPath


class UserController(Controller):
    path = "/users"

    @get("/")
    async def list_users(self) -> list[str]:
        return []

    @post("/")
    async def create_user(self) -> str:
        return "created"

    @get("/{user_id:int}")
    async def get_user(self, user_id: FromPath[int]) -> str:
        return str(user_id)

    @delete("/{user_id:int}")
    async def delete_user(self, user_id: FromPath[int]) -> None:
        return None


@get("/health")
async def health() -> str:
    return "ok"


@get("/files/{rest:path}")
async def files(rest: FromPath[str]) -> str:
    return rest


@websocket("/live")
async def live(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.close()


@asgi("/legacy", is_mount=True, copy_scope=True)
async def legacy(scope: Any, receive: Any, send: Any) -> None:
    return None


api = Router(path="/api", route_handlers=[UserController])
app = Litestar(route_handlers=[health, files, live, legacy, api], openapi_config=None)
