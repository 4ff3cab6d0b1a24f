"""`routeguard suggest --from-log`: a policy learned from report mode's decision log. On an app
with its own router, the suggested policy gives the recorded traffic the answers the app gave."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from routeguard import ASGIGuard, Policy, WSGIGuard
from routeguard.cli import main
from routeguard.testing import call_asgi, call_wsgi, mint_token
from routeguard.tools.suggest import requirement
from routeguard.tools.traffic import Observation
from tests.migration_apps.own_router import asgi_app, wsgi_app

SECRET = "suggest-test-secret-0123456789abcdef0123"
AUTH = """
[auth.bearer]
algorithms = ["HS256"]
secret_env = "RG_TEST_SUGGEST_SECRET"
"""
REPORT = 'mode = "report"\ndecision_log = "decisions.jsonl"\n' + AUTH
ROLES: dict[str, tuple[str, ...] | None] = {
    "anonymous": None, "user": ("user",), "admin": ("admin",), "auditor": ("auditor",), "plain": (),
}
TRAFFIC = [
    *[("GET", "/health", who) for who in ROLES],
    ("GET", "/docs/intro", "anonymous"), ("GET", "/docs/guide/setup", "user"), ("GET", "/docs/api/v1/x", "plain"),
    *[("GET", f"/users/{n}", who) for n in (1, 2, 3, 4) for who in ("user", "admin", "plain")],
    ("GET", "/users/5", "anonymous"),
    ("PUT", "/users/3", "admin"), ("PUT", "/users/3", "user"), ("PUT", "/users/4", "plain"),
    *[("GET", f"/reports/{year}", who) for year in (2023, 2024) for who in ("auditor", "admin", "user")],
    ("GET", "/admin/stats", "admin"), ("GET", "/admin/stats", "user"), ("GET", "/admin/stats", "anonymous"),
    ("GET", "/nowhere", "anonymous"), ("DELETE", "/users/1", "admin"),
]


def call(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(args))
    return status, out.getvalue(), err.getvalue()


def headers(who: str) -> dict[str, str]:
    roles = ROLES[who]
    return {} if roles is None else {"Authorization": "Bearer " + mint_token(SECRET, subject=who, roles=roles)}


def record(tmp_path: Path, adapter: str) -> tuple[Path, Path, list[int]]:
    """Run the traffic through the app under a report-mode policy with no rules at all."""
    policy_file = tmp_path / "report.toml"
    policy_file.write_text(REPORT)
    policy = Policy.from_toml(policy_file)
    app: Any = ASGIGuard(asgi_app, policy=policy) if adapter == "asgi" else WSGIGuard(wsgi_app, policy=policy)
    caller = call_asgi if adapter == "asgi" else call_wsgi
    statuses = [caller(app, method, path, headers(who)).status for method, path, who in TRAFFIC]
    assert app.guard.decision_log is not None
    app.guard.decision_log.flush()
    return tmp_path / "decisions.jsonl", policy_file, statuses


@pytest.mark.parametrize("adapter", ["asgi", "wsgi"])
def test_suggested_policy_gives_recorded_traffic_the_apps_answers(
        tmp_path: Path, adapter: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RG_TEST_SUGGEST_SECRET", SECRET)
    log, report_policy, app_statuses = record(tmp_path, adapter)
    assert len(log.read_text().splitlines()) == len(TRAFFIC)
    status, out, err = call("suggest", "--from-log", str(log), "--rules", str(report_policy))
    assert status == 0, err
    suggested = Policy.from_toml_string(out.replace('mode = "report"', 'mode = "enforce"') + AUTH)
    rules = {(r.path, tuple(r.methods or ())): (r.access, tuple(r.roles or ())) for r in suggested.rules}
    assert rules[("/health", ("GET",))] == ("public", ())
    assert rules[("/users/{user_id}", ("GET",))] == ("authenticated", ())  # "plain" has no role
    assert rules[("/users/{user_id}", ("PUT",))] == (None, ("admin",))
    assert rules[("/reports/{report_id}", ("GET",))] == (None, ("admin", "auditor"))
    assert rules[("/admin/stats", ("GET",))] == (None, ("admin",))
    assert not any(path == "/nowhere" for path, _ in rules)  # never answered with success: default deny
    # replay: the same requests through the same app, guarded by the suggested policy, enforced
    enforced: Any = ASGIGuard(asgi_app, policy=suggested) if adapter == "asgi" else WSGIGuard(wsgi_app,
                                                                                               policy=suggested)
    caller = call_asgi if adapter == "asgi" else call_wsgi
    for (method, path, who), app_status in zip(TRAFFIC, app_statuses, strict=True):
        got = caller(enforced, method, path, headers(who)).status
        if app_status >= 400 and app_status not in (401, 403):
            assert got >= 400, (method, path, who)  # 404, 405: refused either way
        else:
            assert got == app_status, (method, path, who)
    # the matrix of the suggested policy, from the routes the log shows: enforcing it breaks nothing seen
    suggested_file = tmp_path / "suggested.toml"
    suggested_file.write_text(out)
    status, matrix, warning = call("routes", "tests.migration_apps.own_router:asgi_app", "--rules",
                                   str(suggested_file), "--log", str(log), "--format", "json")
    assert status == 0, warning
    rows = json.loads(matrix)["routes"]
    assert {(r["method"], r["path"]) for r in rows} >= {("GET", "/users/{user_id}"), ("PUT", "/users/{user_id}"),
                                                        ("GET", "/reports/{report_id}"), ("GET", "/nowhere")}
    assert sum(t["requests"] for r in rows for t in r["traffic"].values()) >= len(TRAFFIC)
    assert all(t["would_refuse"] == 0 for r in rows for t in r["traffic"].values())
    # would-be refusals of the rule-less report policy: every request the app answered with success
    assert "no rule (default deny): 26 request(s)" in err
    assert "GET /health as anonymous: 1 request(s)" in err and "... and 6 more" in err
    assert "/nowhere" not in err


def test_suggest_output_passes_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RG_TEST_SUGGEST_SECRET", SECRET)
    log, _, _ = record(tmp_path, "asgi")
    target = tmp_path / "suggested.toml"
    assert call("suggest", "--from-log", str(log), "-o", str(target))[0] == 0
    status, out, _ = call("check", str(target), "--strict")
    assert status == 0, out


def obs(column: str, status: int, roles: tuple[str, ...] = ()) -> Observation:
    return Observation("GET", "/x", column, roles, status)


@pytest.mark.parametrize(
    ("seen", "need"),
    [
        pytest.param([obs("anonymous", 200)], "public", id="anonymous-success"),
        pytest.param([obs("anonymous", 401), obs("authenticated", 200)], "authenticated", id="signed-in"),
        pytest.param([obs("admin", 200, ("admin",)), obs("user", 403, ("user",))], "roles:admin", id="one-role"),
        pytest.param([obs("a+b", 200, ("a", "b")), obs("b", 200, ("b",)), obs("a", 403, ("a",))], "roles:b",
                     id="common-role-not-refused"),
        pytest.param([obs("a", 200, ("a",)), obs("b", 200, ("b",)), obs("c", 403, ("c",))], "roles:a,b",
                     id="any-of-roles"),
        pytest.param([obs("a", 200, ("a",)), obs("a", 403, ("a",))], "roles:a", id="ownership-in-app"),
        pytest.param([obs("anonymous", 404), obs("a", 403, ("a",))], None, id="never-success"),
        pytest.param([obs("a", 200, ("a",)), obs("anonymous", 422)], "roles:a", id="bad-request-is-neutral"),
    ],
)
def test_narrowest_requirement(seen: list[Observation], need: str | None) -> None:
    assert requirement(seen) == need


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        pytest.param(None, "cannot read decision log", id="missing"),
        pytest.param("not json\n{}\n", "has no usable line", id="garbage"),
    ],
)
def test_bad_log_is_a_one_line_error(tmp_path: Path, content: str | None, fragment: str) -> None:
    log = tmp_path / "d.jsonl"
    if content is not None:
        log.write_text(content)
    status, out, err = call("suggest", "--from-log", str(log))
    assert status == 1 and out == ""
    assert err.startswith("routeguard: error: ") and fragment in err and len(err.splitlines()) == 1


def test_values_and_agreeing_siblings_are_generalised(tmp_path: Path) -> None:
    lines = [{"method": "GET", "path": f"/files/{name}", "status": 200, "identity": "authenticated", "roles": []}
             for name in ("a.txt", "b.txt", "c.txt")]
    lines += [{"method": "GET", "path": f"/api/orders/{n}/items/{m}", "status": 200, "identity": "authenticated",
               "roles": ["clerk"]} for n, m in ((1, 2), (7, 9))]
    lines += [{"method": "GET", "path": "/api/orders/1/items/2/notes/x", "status": 200, "identity": "authenticated",
               "roles": ["clerk"]}]
    lines += [{"method": "GET", "path": f"/docs/{a}/{b}", "status": 200, "identity": "authenticated", "roles": []}
              for a in "abc" for b in "xyz"]
    log = tmp_path / "d.jsonl"
    log.write_text("\n".join(json.dumps(line) for line in lines))
    status, out, _ = call("suggest", "--from-log", str(log))
    assert status == 0
    paths = [r.path for r in Policy.from_toml_string(out, resolve_secrets=False).rules]
    assert paths == ["/api/orders/{order_id}/items/**", "/docs/{doc_id}/{param}", "/files/{file_id}"]
