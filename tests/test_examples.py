"""The example apps behave as the README says (in-process; real servers are in tests/e2e)."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from .support import BROWSER


@pytest.fixture(params=["fastapi", "flask"])
def client(request: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    # A store of this test run's own: the examples' default SQLite file in /tmp is shared by every
    # run on the machine, and other runs' failed credentials would count against this one.
    store = tmp_path_factory.getbasetemp() / "examples.db"
    os.environ.setdefault("APP_STORE_URL", f"sqlite:///{store}")
    if request.param == "fastapi":
        from starlette.testclient import TestClient

        from examples.fastapi_app.app import app as fastapi_app

        return TestClient(fastapi_app, follow_redirects=False)
    from examples.flask_app.app import app as flask_app

    return flask_app.test_client()


def status(response: Any) -> int:
    return int(response.status_code)


def body(response: Any) -> Any:
    return response.get_json() if hasattr(response, "get_json") else response.json()


def location(response: Any) -> str:
    return str(response.headers["location"])


def session_value(client: Any) -> str:
    if hasattr(client, "get_cookie"):
        return str(client.get_cookie("session").value)
    return str(client.cookies.get("session"))


def set_session(client: Any, value: str) -> None:
    if hasattr(client, "set_cookie"):
        client.set_cookie("session", value)
    else:
        client.cookies.set("session", value)


def fresh_client(client: Any) -> Any:
    if hasattr(client, "application"):
        return client.application.test_client()
    from starlette.testclient import TestClient

    return TestClient(client.app, follow_redirects=False)


def login(client: Any, user: Any, password: Any, next_: Any="/") -> Any:
    return client.post("/login", data={"username": user, "password": password, "next": next_})


def test_browser_login_flow(client: Any) -> None:
    first = client.get("/dashboard", headers={"Accept": BROWSER})
    assert status(first) == 302
    target = parse_qs(urlsplit(location(first)).query)["next"][0]
    assert target == "/dashboard"
    assert status(login(client, "alice", "wrong", target)) == 401
    done = login(client, "alice", "alice-pass", target)
    assert status(done) == 303 and location(done).endswith("/dashboard")
    assert status(client.get("/dashboard", headers={"Accept": BROWSER})) == 200
    refused = client.get("/admin", headers={"Accept": BROWSER})
    assert status(refused) == 403 and refused.headers["content-type"].startswith("text/html")
    assert status(client.get("/orgs/acme/projects")) == 200
    assert status(client.get("/orgs/globex/projects")) == 403
    stolen = session_value(client)
    client.post("/logout")
    assert status(client.get("/dashboard", headers={"Accept": BROWSER})) == 302
    replay = fresh_client(client)
    set_session(replay, stolen)  # a copy of the cookie taken before logout is refused everywhere
    assert status(replay.get("/api/me")) == 401


def test_login_page_never_redirects_off_site(client: Any) -> None:
    done = login(client, "alice", "alice-pass", "//evil.example/x")
    assert status(done) == 303
    assert urlsplit(location(done)).netloc in ("", "testserver", "localhost")
    assert urlsplit(location(done)).path == "/"


def test_json_api_with_bearer_tokens(client: Any) -> None:
    assert status(client.get("/api/me")) == 401
    assert status(client.post("/api/token", json={"username": "bob", "password": "nope"})) == 400
    issued = body(client.post("/api/token", json={"username": "bob", "password": "bob-pass"}))
    headers = {"Authorization": f"Bearer {issued['access_token']}"}
    me = client.get("/api/me", headers=headers)
    assert status(me) == 200 and body(me)["subject"] == "bob" and body(me)["backend"] == "bearer"
    assert status(client.get("/orgs/globex/projects", headers=headers)) == 200
    assert status(client.get("/orgs/acme/projects", headers=headers)) == 403
    assert status(client.get("/admin/users", headers=headers)) == 403
    root = body(client.post("/api/token", json={"username": "root", "password": "root-pass"}))
    admin = client.get("/admin/users", headers={"Authorization": f"Bearer {root['access_token']}"})
    assert status(admin) == 200 and "alice" in body(admin)["users"]
    tampered = {"Authorization": "Bearer " + issued["access_token"][:-3] + "xyz"}
    assert status(client.get("/api/me", headers=tampered)) == 401
    assert body(client.post("/api/logout", headers=headers)) == {"revoked": True}
    assert status(client.get("/api/me", headers=headers)) == 401


def test_unlisted_routes_are_denied(client: Any) -> None:
    assert status(client.get("/docs")) == 401  # FastAPI's docs are not in the policy: default deny
    assert status(client.get("/openapi.json")) == 401
    assert status(client.get("/health")) == 200
