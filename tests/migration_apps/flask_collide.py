"""A Flask app whose routes differ only inside a segment, and names that look public but are not."""

from __future__ import annotations

from flask import Flask

app = Flask("collide")


@app.get("/c/<int:id>")
def category(id: int) -> str:
    return "c"


@app.route("/c/<int:id>-<slug>", methods=["GET", "POST"])
def category_slug(id: int, slug: str) -> str:
    return "cs"


@app.get("/u/<name>.json")
def user_json(name: str) -> str:
    return "j"


@app.get("/u/<name>.xml")
def user_xml(name: str) -> str:
    return "x"


@app.get("/u/<name>")
def user(name: str) -> str:
    return "u"


@app.route("/login", methods=["GET", "POST"])
def login() -> str:
    return "l"


@app.get("/health")
def health() -> str:
    return "ok"


@app.post("/admin/token")
def admin_token() -> str:
    return "t"


@app.post("/api/logout")
def api_logout() -> str:
    return "bye"


@app.get("/api/login")
def api_login_page() -> str:
    return "not the login url"
