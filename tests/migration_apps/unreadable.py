"""An ASGI app with its own router (as datasette has): routeguard cannot read its routes."""

from __future__ import annotations

from typing import Any


class OwnRouter:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        return None


app = OwnRouter()
