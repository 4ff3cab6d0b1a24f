"""A Falcon app: resources with responders, a field converter, a suffixed responder."""

from __future__ import annotations

from typing import Any

import falcon
import falcon.asgi


class Items:
    def on_get(self, req: Any, resp: Any) -> None:
        resp.media = []

    def on_post(self, req: Any, resp: Any) -> None:
        resp.media = {}


class Item:
    def on_get(self, req: Any, resp: Any, item_id: int) -> None:
        resp.media = {}

    def on_delete(self, req: Any, resp: Any, item_id: int) -> None:
        resp.status = falcon.HTTP_204

    def on_get_raw(self, req: Any, resp: Any, item_id: int) -> None:
        resp.text = "raw"


app = falcon.App()
app.add_route("/items", Items())
app.add_route("/items/{item_id:int}", Item())
app.add_route("/items/{item_id:int}/raw", Item(), suffix="raw")


def proxy(req: Any, resp: Any, **kwargs: Any) -> None:
    resp.text = "proxied"


app.add_sink(proxy, "/proxy")

asgi_app = falcon.asgi.App()
