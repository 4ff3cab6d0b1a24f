"""`routeguard init` output a reviewer can trust: it passes `check --strict`, routes whose
patterns collide become one rule, and only exact well-known paths start public."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from routeguard import Policy
from routeguard.cli import main
from routeguard.tools.introspect import AppRoute, list_routes, load_app
from routeguard.tools.lint import lint
from routeguard.tools.matrix import build
from routeguard.tools.starter import starter_policy

COLLIDE = "tests.migration_apps.flask_collide:app"


def call(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(args))
    return status, out.getvalue(), err.getvalue()


def init_policy(tmp_path: Path, app: str) -> tuple[Path, Policy]:
    target = tmp_path / "routeguard.toml"
    status, _, err = call("init", app, "-o", str(target))
    assert status == 0, err
    return target, Policy.from_toml(target, resolve_secrets=False)


def test_init_on_colliding_flask_routes_passes_check_strict(tmp_path: Path) -> None:
    target, policy = init_policy(tmp_path, COLLIDE)
    status, out, _ = call("check", str(target), "--strict")
    assert status == 0, out
    assert "note: policy: mode = 'report'" in out
    assert "no findings" in out
    paths = [r.path for r in policy.rules]
    assert len([p for p in paths if p.startswith("/c/")]) == 1  # /c/{id} and /c/* are one rule
    assert len([p for p in paths if p.startswith("/u/")]) == 1  # /u/{name}, /u/*.json, /u/*.xml
    c_rule = next(r for r in policy.rules if r.path.startswith("/c/"))
    assert c_rule.methods == ["GET", "POST"]
    # every route of the app is covered: nothing falls to default deny
    assert build(list_routes(load_app(COLLIDE)), policy).default_deny_rows == []


def test_check_strict_still_counts_real_findings_in_report_mode(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('mode = "report"\n[[rules]]\npath = "/a/**"\naccess = "public"\n')
    status, out, _ = call("check", str(path), "--strict")
    assert status == 1
    assert "warning: rule #1" in out and "[wide-public]" in out


def test_starter_drops_rules_that_earlier_rules_decide() -> None:
    routes = [
        AppRoute("/files/**", None, "files", "mount /files", "mount"),
        AppRoute("/files/{name}", ("GET",), "one", "/files/<name>"),
        AppRoute("/files/{a}/{b}", ("GET", "POST"), "two", "/files/<a>/<b>"),
        AppRoute("/x/{id}", None, "any", "/x/<id>"),
        AppRoute("/x/*", ("GET",), "get", "/x/<id>.txt"),
    ]
    policy = Policy.from_toml_string(starter_policy(routes, "demo:app"), resolve_secrets=False)
    assert [f.code for f in lint(policy)] == ["report-mode"]
    assert build(routes, policy).default_deny_rows == []
    x_rule = next(r for r in policy.rules if r.path.startswith("/x/"))
    assert x_rule.methods is None
