"""Route introspection (Starlette/FastAPI, Flask) and the permission matrix built from it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from routeguard import Policy, Rule
from routeguard.errors import AppImportError
from routeguard.tools.introspect import AppRoute, list_routes
from routeguard.tools.matrix import build, render_json, render_markdown, render_table
from routeguard.tools.matrix_html import render_html
from routeguard.tools.starter import is_well_known_public, starter_policy


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Host, Mount, Route, Router, WebSocketRoute
    from starlette.staticfiles import StaticFiles

    async def ok(request: Any) -> Any:
        return PlainTextResponse("ok")

    async def ws(websocket: Any) -> None:
        await websocket.close()

    api = Router(routes=[Route("/items", ok, methods=["GET", "POST"]), Route("/items/{item_id:int}", ok,
                                                                              methods=["DELETE"])])
    return Starlette(routes=[
        Route("/", ok),
        Route("/files/{rest:path}", ok),
        Route("/report-{year}.csv", ok),
        WebSocketRoute("/ws", ws),
        Mount("/api/v1", routes=api.routes),
        Mount("/static", app=StaticFiles(directory=".", check_dir=False), name="static"),
        Host("admin.example.com", app=Router(routes=[Route("/stats", ok)])),
    ])


def flask_app() -> Any:
    from flask import Blueprint, Flask

    app = Flask("introspect")
    bp = Blueprint("shop", "shop", url_prefix="/shop")

    @bp.route("/orders/<int:order_id>", methods=["GET", "PUT"])
    def order(order_id: int) -> str:
        return "o"

    @app.route("/docs/<path:page>")
    def docs(page: str) -> str:
        return "d"

    @app.route("/v<int:version>/ping")
    def ping(version: int) -> str:
        return "p"

    app.register_blueprint(bp)
    return app


def table(routes: list[AppRoute]) -> set[tuple[str, tuple[str, ...] | None, str]]:
    return {(r.path, r.methods, r.kind) for r in routes}


def test_starlette_routes_mounts_and_websockets() -> None:
    routes = table(list_routes(starlette_app()))
    assert routes == {
        ("/", ("GET",), "http"),
        ("/files/**", ("GET",), "http"),
        ("/*", ("GET",), "http"),
        ("/ws", ("GET",), "websocket"),
        ("/api/v1/items", ("GET", "POST"), "http"),
        ("/api/v1/items/{item_id}", ("DELETE",), "http"),
        ("/static/**", None, "mount"),
        ("/stats", ("GET",), "http"),
    }


def test_fastapi_routers_and_sub_apps() -> None:
    from fastapi import APIRouter, FastAPI

    router = APIRouter(prefix="/users")

    @router.get("/{user_id}")
    def user(user_id: int) -> dict[str, int]:
        return {"id": user_id}

    sub = FastAPI()

    @sub.post("/hook")
    def hook() -> None:
        return None

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(router)
    app.mount("/sub", sub)
    routes = table(list_routes(app))
    assert ("/users/{user_id}", ("GET",), "http") in routes
    assert ("/sub/hook", ("POST",), "http") in routes


def test_flask_routes_blueprints_and_converters() -> None:
    routes = table(list_routes(flask_app()))
    assert ("/shop/orders/{order_id}", ("GET", "PUT"), "http") in routes
    assert ("/docs/**", ("GET",), "http") in routes
    assert ("/*/ping", ("GET",), "http") in routes  # "v<int:version>" mixes text and a parameter
    assert all("OPTIONS" not in (m or ()) and "HEAD" not in (m or ()) for _, m, _ in routes)


def test_flask_behind_wsgi_guard_and_dispatcher() -> None:
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    from routeguard import WSGIGuard

    app = flask_app()
    inner = flask_app()
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/legacy": inner})
    app.wsgi_app = WSGIGuard(app.wsgi_app, policy=Policy(rules=[Rule(path="/**", access="public")]))
    routes = table(list_routes(app))
    assert ("/legacy/shop/orders/{order_id}", ("GET", "PUT"), "http") in routes
    assert ("/shop/orders/{order_id}", ("GET", "PUT"), "http") in routes


def test_asgi_guard_is_unwrapped() -> None:
    from routeguard import ASGIGuard

    guarded = ASGIGuard(starlette_app(), policy=Policy(rules=[Rule(path="/**", access="public")]))
    assert ("/ws", ("GET",), "websocket") in table(list_routes(guarded))


@pytest.mark.parametrize("app", [object(), lambda environ, start: [], "text"], ids=["object", "callable", "str"])
def test_unsupported_apps_are_an_error(app: Any) -> None:
    with pytest.raises(AppImportError, match="cannot list the routes"):
        list_routes(app)


# -- matrix ----------------------------------------------------------------------------------------

POLICY = Policy(
    login_url="/login",
    rules=[
        Rule(path="/login", access="public"),
        Rule(path="/orgs/{org}/**", tenant="org"),
        Rule(path="/reports/**", permissions=["reports:read"]),
        Rule(path="/secret/**", roles=["admin"], hide=True),
        Rule(path="/api/items/new", methods=["GET"], access="public"),
        Rule(path="/api/**", roles=["admin", "staff"]),
        Rule(path="/unused"),
    ],
)
ROUTES = [
    AppRoute("/login", ("GET", "POST"), "login", "/login"),
    AppRoute("/orgs/{org_id}/projects", ("GET",), "projects", "/orgs/{org_id}/projects"),
    AppRoute("/reports/{name}", ("GET",), "report", "/reports/{name}"),
    AppRoute("/secret/x", ("GET",), "secret", "/secret/x"),
    AppRoute("/api/items/{item}", ("GET",), "item", "/api/items/{item}"),
    AppRoute("/other", ("GET",), "other", "/other"),
    AppRoute("/static/**", None, "StaticFiles", "mount /static", "mount"),
]


def cells(path: str, method: str = "GET") -> dict[str, str]:
    matrix = build(ROUTES, POLICY)
    row = next(r for r in matrix.rows if r.route.path == path and r.method == method)
    return {name: cell.label for name, cell in row.cells.items()}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("/login", {"anonymous": "allow", "authenticated": "allow", "admin": "allow", "staff": "allow"},
                     id="public"),
        pytest.param("/orgs/{org_id}/projects", {"anonymous": "login", "authenticated": "tenant",
                                                 "admin": "tenant", "staff": "tenant"}, id="tenant"),
        pytest.param("/reports/{name}", {"anonymous": "login", "authenticated": "permission",
                                         "admin": "permission", "staff": "permission"}, id="permission"),
        pytest.param("/secret/x", {"anonymous": "login", "authenticated": "hidden", "admin": "allow",
                                   "staff": "hidden"}, id="hidden"),
        pytest.param("/api/items/{item}", {"anonymous": "mixed", "authenticated": "mixed", "admin": "allow",
                                           "staff": "allow"}, id="split-between-rules"),
        pytest.param("/other", {"anonymous": "login", "authenticated": "deny", "admin": "deny", "staff": "deny"},
                     id="default-deny"),
    ],
)
def test_matrix_cells(path: str, expected: dict[str, str]) -> None:
    assert cells(path) == expected


def test_matrix_rows_rules_and_flags() -> None:
    matrix = build(ROUTES, POLICY, app="demo:app", source="p.toml")
    assert matrix.identities == ("anonymous", "authenticated", "admin", "staff")
    by_path = {(r.route.path, r.method): r for r in matrix.rows}
    split = by_path[("/api/items/{item}", "GET")]
    assert [(p.rule.position if p.rule else None, p.witness) for p in split.pieces] == [
        (5, "/api/items/new"), (6, "/api/items/x")]
    assert split.cells["anonymous"].note == "#5 (/api/items/new): allow; #6 (/api/items/x): 401"
    assert [r.route.path for r in matrix.default_deny_rows] == ["/other", "/static/**"]
    assert by_path[("/static/**", "*")].rule_text == "DEFAULT DENY"
    assert [r.position for r in matrix.unused_rules] == [7]
    assert by_path[("/orgs/{org_id}/projects", "GET")].cells["admin"].note == "allowed with a tenant matching {org}"


def test_duplicate_routes_merge_into_one_row() -> None:
    routes = [AppRoute("/admin", ("GET",), "admin", "/admin/"), AppRoute("/admin", ("GET",), "admin", "/admin")]
    matrix = build(routes, Policy(rules=[Rule(path="/admin/**", roles=["admin"])]))
    assert len(matrix.rows) == 1
    assert matrix.rows[0].sources == ("/admin/", "/admin")


def test_report_mode_marks_cells() -> None:
    policy = Policy(mode="report", rules=[Rule(path="/a", roles=["admin"])])
    matrix = build([AppRoute("/a", ("GET",), "a", "/a")], policy)
    cell = matrix.rows[0].cells["authenticated"]
    assert cell.report_only and cell.text() == "403~"
    assert "report" in render_table(matrix)


def test_renderers_agree() -> None:
    matrix = build(ROUTES, POLICY, app="demo:app", source="p.toml")
    text = render_table(matrix)
    assert "GET     ! /other" in text
    assert "rule #7 ('/unused', any method) matches no route" in text
    data = json.loads(render_json(matrix))
    assert [r["path"] for r in data["routes"]] == [r.route.path for r in matrix.rows]
    assert data["unused_rules"][0]["pattern"] == "/unused"
    markdown = render_markdown(matrix)
    assert markdown.count("\n| ") == len(matrix.rows)  # one line per row after the header


def test_html_escapes_everything() -> None:
    evil = AppRoute("/x/{name}", ("GET",), "<script>alert(1)</script>", "/x/<b>")
    matrix = build([evil], Policy(rules=[Rule(path="/x/*", roles=["<img src=x>"])]), app="<app>", source="'p'")
    page = render_html(matrix)
    assert "<script>" not in page
    assert "<img" not in page
    assert "&lt;img src=x&gt;" in page
    assert "&lt;app&gt;" in page


# -- starter policies ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("path", "public"),
    [
        pytest.param("/health", True, id="health"),
        pytest.param("/api/token", False, id="token-anywhere-is-not-public"),
        pytest.param("/static/**", True, id="static"),
        pytest.param("/.well-known/**", True, id="well-known"),
        pytest.param("/favicon.ico", True, id="favicon"),
        pytest.param("/", False, id="root"),
        pytest.param("/admin/health/{id}", False, id="parameterized-health"),
        pytest.param("/healthcheck-admin", False, id="anchored"),
        pytest.param("/api/users", False, id="api"),
    ],
)
def test_well_known_public(path: str, public: bool) -> None:
    assert is_well_known_public(path) is public


def test_starter_orders_specific_first_and_lints_clean() -> None:
    from routeguard.tools.lint import lint

    routes = [
        AppRoute("/items/{item_id}", ("GET",), "item", "/items/{item_id}"),
        AppRoute("/items/new", ("GET",), "new", "/items/new"),
        AppRoute("/files/**", None, "files", "mount /files", "mount"),
        AppRoute("/files/readme", ("GET",), "readme", "/files/readme"),
        AppRoute("/ws", ("GET",), "ws", "/ws", "websocket"),
    ]
    text = starter_policy(routes, "demo:app")
    policy = Policy.from_toml_string(text, resolve_secrets=False)
    assert [r.path for r in policy.rules] == ["/files/readme", "/files/**", "/items/new", "/items/{item_id}", "/ws"]
    assert policy.rules[1].methods is None
    assert policy.login_url is None
    assert [f.code for f in lint(policy)] == ["report-mode"]
    assert build(routes, policy).default_deny_rows == []


def test_fastapi_nested_included_routers() -> None:
    from fastapi import APIRouter, FastAPI, WebSocket
    from starlette.staticfiles import StaticFiles

    inner = APIRouter(prefix="/users")

    @inner.delete("/{user_id}")
    def remove(user_id: int) -> None:
        return None

    @inner.websocket("/live")
    async def live(websocket: WebSocket) -> None:
        await websocket.close()

    inner.mount("/files", StaticFiles(directory=".", check_dir=False))
    outer = APIRouter(prefix="/v1")
    outer.include_router(inner)
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(outer)
    assert table(list_routes(app)) == {
        ("/v1/users/{user_id}", ("DELETE",), "http"),
        ("/v1/users/live", ("GET",), "websocket"),
        # APIRouter.mount() ignores the router's own prefix: FastAPI serves /v1/files/...,
        # not /v1/users/files/... (checked with TestClient); the matrix follows what is served.
        ("/v1/files/**", None, "mount"),
    }
