"""A Quart app with a blueprint."""

from __future__ import annotations

from quart import Blueprint, Quart

app = Quart("quart_app")
bp = Blueprint("api", __name__, url_prefix="/api")


@app.get("/")
async def index() -> str:
    return "i"


@bp.route("/orders/<int:order_id>", methods=["GET", "DELETE"])
async def order(order_id: int) -> str:
    return "o"


@app.websocket("/ws")
async def ws() -> None:
    return None


app.register_blueprint(bp)
