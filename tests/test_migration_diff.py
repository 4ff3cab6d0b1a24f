"""`routeguard diff`: the cells of the permission matrix a policy change alters, `--strict`
failing when access widens; the HTML diff view; and `routes --log`, the observed traffic per cell."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from routeguard.cli import main

APP = "tests.migration_apps.flask_collide:app"
BASE = """
login_url = "/login"
[[rules]]
path = "/login"
access = "public"
[[rules]]
path = "/health"
access = "public"
[[rules]]
path = "/admin/token"
roles = ["admin"]
[[rules]]
path = "/c/{id}"
{c_rule}
[[rules]]
path = "/u/{name}"
[[rules]]
path = "/api/**"
"""


def call(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(args))
    return status, out.getvalue(), err.getvalue()


def policies(tmp_path: Path, before: str, after: str) -> tuple[str, str]:
    old, new = tmp_path / "old.toml", tmp_path / "new.toml"
    old.write_text(BASE.replace("{c_rule}", before))
    new.write_text(BASE.replace("{c_rule}", after))
    return str(old), str(new)


def changes(out: str) -> list[tuple[str, str, str, str, str, bool]]:
    return [(c["method"], c["path"], c["identity"], c["before"]["label"], c["after"]["label"], c["widens"])
            for c in json.loads(out)["changes"]]


@pytest.mark.parametrize("strict", [pytest.param([], id="plain"), pytest.param(["--strict"], id="strict")])
def test_widening_change_fails_only_with_strict(tmp_path: Path, strict: list[str]) -> None:
    old, new = policies(tmp_path, 'roles = ["editor"]', "")
    status, out, err = call("diff", APP, old, new, "--format", "json", *strict)
    assert status == (1 if strict else 0), err
    # /c/<int:id> is one row, /c/<int:id>-<slug> (GET, POST) another; editor keeps its access: no change
    assert changes(out) == [(method, path, who, "deny", "allow", True)
                            for method, path in (("GET", "/c/{id}"), ("GET", "/c/*"), ("POST", "/c/*"))
                            for who in ("authenticated", "admin")]


def test_narrowing_change_passes_strict(tmp_path: Path) -> None:
    old, new = policies(tmp_path, "", 'roles = ["editor"]')
    status, out, _ = call("diff", APP, old, new, "--strict")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["METHOD", "PATH", "IDENTITY", "BEFORE", "AFTER"]
    assert lines[1].split() == ["GET", "/c/{id}", "authenticated", "allow", "->", "403", "narrows"]
    assert lines[6].split() == ["POST", "/c/*", "admin", "allow", "->", "403", "narrows"]
    assert "6 cell(s) change, 0 widen access" in out
    assert "/health" not in out  # only changed cells


def test_no_change_and_markdown(tmp_path: Path) -> None:
    old, _ = policies(tmp_path, "", "")
    assert call("diff", APP, old, old, "--strict") == (0, "no access changes\n", "")
    old, new = policies(tmp_path, 'roles = ["editor"]', 'access = "public"')
    status, out, _ = call("diff", APP, old, new, "--format", "markdown", "--strict")
    assert status == 1
    assert "| `/c/{id}` | GET | anonymous | 401 | allow | **widens** |" in out


def test_report_only_refusal_counts_as_widening(tmp_path: Path) -> None:
    old, new = policies(tmp_path, 'roles = ["editor"]', 'roles = ["editor"]\nmode = "report"')
    status, out, _ = call("diff", APP, old, new, "--format", "json", "--strict")
    assert status == 1
    assert ("GET", "/c/{id}", "authenticated", "deny", "deny", True) in changes(out)


def test_git_revisions_of_one_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, env=env, check=True, capture_output=True, timeout=30)

    git("init", "-q")
    (tmp_path / "routeguard.toml").write_text(BASE.replace("{c_rule}", 'roles = ["editor"]'))
    git("add", "routeguard.toml")
    git("commit", "-qm", "v1")
    (tmp_path / "routeguard.toml").write_text(BASE.replace("{c_rule}", ""))
    monkeypatch.chdir(tmp_path)
    status, out, err = call("diff", APP, "HEAD:routeguard.toml", "routeguard.toml", "--format", "json", "--strict")
    assert status == 1, err
    assert ("GET", "/c/{id}", "authenticated", "deny", "allow", True) in changes(out)
    status, _, err = call("diff", APP, "--upload-pack=x:routeguard.toml", "routeguard.toml")
    assert status != 0 and "Traceback" not in err


def test_html_diff_view_marks_changed_cells(tmp_path: Path) -> None:
    old, new = policies(tmp_path, 'roles = ["editor"]', "")
    status, out, _ = call("diff", APP, old, new, "--format", "html")
    assert status == 0
    assert out.count('class="cell allow widen"') == 6
    assert "<b>6</b> cells change, <b>6</b> widen access" in out
    assert "Access changes:" in out


# -- routes --log: observed traffic per cell ----------------------------------------------------

def log_lines(path: Path, entries: Sequence[tuple[str, str, str, list[str], int]]) -> None:
    path.write_text("\n".join(json.dumps({"method": m, "path": p, "identity": kind, "roles": roles, "status": s})
                              for m, p, kind, roles, s in entries) + "\n")


def traffic_of(out: str) -> dict[tuple[str, str], Any]:
    return {(r["method"], r["path"]): r.get("traffic") for r in json.loads(out)["routes"]}


def test_routes_log_counts_requests_and_would_be_refusals_per_cell(tmp_path: Path) -> None:
    old, _ = policies(tmp_path, 'roles = ["editor"]', "")
    log = tmp_path / "d.jsonl"
    log_lines(log, [("POST", "/admin/token", "authenticated", ["admin"], 200),
                    ("POST", "/admin/token", "authenticated", [], 200),
                    ("POST", "/api/logout", "anonymous", [], 200),
                    ("POST", "/api/logout", "authenticated", ["editor"], 200),
                    ("GET", "/health", "anonymous", [], 200), ("GET", "/nowhere/else", "anonymous", [], 404)])
    status, out, err = call("routes", APP, "--rules", old, "--log", str(log), "--format", "json")
    assert status == 0, err
    found = traffic_of(out)
    assert found[("POST", "/admin/token")] == {"admin": {"requests": 1, "would_refuse": 0},
                                               "authenticated": {"requests": 1, "would_refuse": 1}}
    assert found[("POST", "/api/logout")] == {"anonymous": {"requests": 1, "would_refuse": 1},
                                              "editor": {"requests": 1, "would_refuse": 0}}
    assert found[("GET", "/health")] == {"anonymous": {"requests": 1, "would_refuse": 0}}
    status, page, _ = call("routes", APP, "--rules", old, "--log", str(log), "--format", "html")
    assert '<small class="seen bad">1 seen, 1 would be refused</small>' in page
    assert "<b>5</b> logged requests" in page and "<b>2</b> would be refused when enforced" in page


def test_routes_log_shows_the_matrix_of_an_app_with_its_own_router(tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text('[[rules]]\npath = "/users/{user_id}"\nmethods = ["GET"]\n')
    log = tmp_path / "d.jsonl"
    log_lines(log, [("GET", f"/users/{n}", "authenticated", [], 200) for n in range(3)]
              + [("GET", "/health", "anonymous", [], 200)])
    status, out, err = call("routes", "tests.migration_apps.own_router:asgi_app", "--rules", str(policy),
                            "--log", str(log), "--format", "json")
    assert status == 0, err
    assert "cannot list the routes of a function" in err and "showing the routes seen in" in err
    found = traffic_of(out)
    assert found[("GET", "/users/{user_id}")] == {"authenticated": {"requests": 3, "would_refuse": 0}}
    assert found[("GET", "/health")] == {"anonymous": {"requests": 1, "would_refuse": 1}}
