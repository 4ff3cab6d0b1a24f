"""A Bottle app: typed wildcards, a path wildcard, ANY-method route and a mounted sub-app."""

from __future__ import annotations

from typing import Any

import bottle

app = bottle.Bottle()
admin = bottle.Bottle()


@app.get("/")
def index() -> str:
    return "i"


@app.route("/items/<item_id:int>", method=["GET", "PUT"])
def item(item_id: int) -> str:
    return "item"


@app.get("/docs/<page:path>")
def docs(page: str) -> str:
    return page


@app.route("/hook", method="ANY")
def hook() -> str:
    return "h"


@app.get("/report-<year:int>.csv")
def report(year: int) -> str:
    return "r"


@admin.get("/stats")
def stats() -> str:
    return "s"


app.mount("/admin/", admin)


def legacy_wsgi(environ: dict[str, object], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"legacy"]


app.mount("/legacy/", legacy_wsgi)
