"""FastAPI integration: ``current_identity``/``require`` dependencies and ``document`` (OpenAPI)."""

from __future__ import annotations

from typing import Annotated, Any

import pytest

fastapi = pytest.importorskip("fastapi")

from fastapi import Depends, FastAPI  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from routeguard import ASGIGuard, Identity, Policy  # noqa: E402
from routeguard.integrations.fastapi import current_identity, document, require  # noqa: E402
from routeguard.testing import mint_token  # noqa: E402

SECRET = "fastapi-tests-jwt-secret-0123456789abcdef-0123456789"
POLICY = {
    "rules": [
        {"path": "/health", "methods": ["GET"], "access": "public"},
        {"path": "/items/{item_id}", "methods": ["DELETE"], "roles": ["admin"]},
        {"path": "/items/**"},
        {"path": "/reports/**", "permissions": ["reports:read"]},
        {"path": "/orgs/{org}/**", "tenant": "org"},
        {"path": "/gone/**", "access": "deny"},
    ],
    "auth": {"bearer": {"algorithms": ["HS256"], "secret": SECRET}},
}


def make_app(policy: Policy) -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    def health(who: Annotated[Identity | None, Depends(current_identity)]) -> dict[str, Any]:
        return {"subject": who.subject if who else None}

    @app.get("/items/{item_id}")
    def item(item_id: str, who: Annotated[Identity | None, Depends(current_identity)]) -> dict[str, Any]:
        return {"item": item_id, "subject": who.subject if who else None}

    @app.delete("/items/{item_id}")
    def delete(item_id: str) -> dict[str, str]:
        return {"deleted": item_id}

    @app.get("/reports/{name}", dependencies=[Depends(require(permissions=["reports:read"]))])
    def report(name: str) -> dict[str, str]:
        return {"report": name}

    @app.get("/orgs/{org}/files/{path:path}")
    def files(org: str, path: str) -> dict[str, str]:
        return {"org": org}

    @app.get("/gone/old")
    def old() -> dict[str, str]:
        return {}

    @app.get("/unlisted")
    def unlisted() -> dict[str, str]:
        return {}

    @app.get("/open/admin", dependencies=[Depends(require(roles=["admin", "ops"]))])
    def open_admin(who: Annotated[Identity, Depends(require(roles=["admin", "ops"]))]) -> dict[str, str]:
        return {"subject": who.subject}

    document(app, policy)
    app.add_middleware(ASGIGuard, policy=policy)
    return app


def bearer(subject: str, **claims: Any) -> dict[str, str]:
    claims.setdefault("ttl", 3600)  # minted at collection time (parametrize): outlives the run
    return {"Authorization": "Bearer " + mint_token(SECRET, subject=subject, **claims)}


def test_current_identity_is_the_guards() -> None:
    client = TestClient(make_app(Policy(**POLICY)))
    assert client.get("/items/7", headers=bearer("alice")).json() == {"item": "7", "subject": "alice"}
    assert client.get("/health").json() == {"subject": None}  # public, anonymous
    assert client.get("/health", headers=bearer("bob")).json() == {"subject": "bob"}  # public, signed in
    assert client.get("/items/7").status_code == 401  # the guard decided before FastAPI


@pytest.mark.parametrize("headers, status", [
    pytest.param({}, 401, id="anonymous"),
    pytest.param(bearer("alice", roles=["user"]), 403, id="wrong-role"),
    pytest.param(bearer("alice", roles=["ops"]), 200, id="one-of-the-roles"),
])
def test_require_roles_on_a_route_the_policy_leaves_open(headers: Any, status: int) -> None:
    policy = Policy(**{**POLICY, "rules": [{"path": "/open/**", "access": "public"}]})
    response = TestClient(make_app(policy)).get("/open/admin", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    if status == 200:
        assert response.json() == {"subject": "alice"}


def test_require_permissions() -> None:
    client = TestClient(make_app(Policy(**{**POLICY, "rules": [{"path": "/reports/**"}]})))
    assert client.get("/reports/q1", headers=bearer("a", permissions=["reports:read"])).status_code == 200
    assert client.get("/reports/q1", headers=bearer("a", permissions=["other"])).status_code == 403


def operations(schema: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method, path): op for path, item in schema["paths"].items() for method, op in item.items()}


def test_document_writes_requirements_per_operation() -> None:
    policy = Policy(**POLICY)
    schema = TestClient(make_app(policy)).app.openapi()  # type: ignore[attr-defined]
    assert schema["components"]["securitySchemes"] == {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
    ops = operations(schema)
    assert ops["get", "/health"]["security"] == []  # public: no requirement
    protected = [("get", "/items/{item_id}"), ("delete", "/items/{item_id}"), ("get", "/reports/{name}"),
                 ("get", "/orgs/{org}/files/{path}"), ("get", "/gone/old"), ("get", "/unlisted")]
    for key in protected:  # bearer only: no anonymous alternative
        assert ops[key]["security"] == [{"bearer": []}], key
    assert ops["delete", "/items/{item_id}"]["x-routeguard"] == {"access": "authenticated", "roles": ["admin"]}
    assert ops["get", "/items/{item_id}"]["x-routeguard"] == {"access": "authenticated"}
    assert ops["get", "/reports/{name}"]["x-routeguard"]["permissions"] == ["reports:read"]
    assert ops["get", "/orgs/{org}/files/{path}"]["x-routeguard"]["tenant"] == "org"
    assert ops["get", "/gone/old"]["x-routeguard"] == {"access": "deny"}
    assert ops["get", "/unlisted"]["x-routeguard"] == {"access": "deny"}  # default deny


def test_document_offers_the_api_key_header_as_an_alternative() -> None:
    policy = Policy(**{**POLICY, "auth": {"api_key": {"header": "X-Key", "keys": [
        {"hash": "sha256:" + "0" * 64, "subject": "ci"}]}}})
    schema = make_app(policy).openapi()
    assert schema["components"]["securitySchemes"]["apiKey"] == {"type": "apiKey", "in": "header", "name": "X-Key"}
    assert operations(schema)["get", "/unlisted"]["security"] == [{"bearer": []}, {"apiKey": []}]
    assert operations(schema)["get", "/health"]["security"] == []


def test_documented_schema_is_served_and_the_example_uses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_STORE_URL", "memory://")
    from examples.fastapi_app.app import app

    ops = operations(app.openapi())
    assert ops["get", "/api/me"]["security"] == [{"bearer": []}]
    assert ops["post", "/api/token"]["security"] == []
    assert ops["get", "/admin/users"]["x-routeguard"]["roles"] == ["admin"]
