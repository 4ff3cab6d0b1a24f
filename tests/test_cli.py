"""The `routeguard` console script on the example apps: good and bad input, exit codes,
one-line errors and never a traceback.

Every command runs as a real subprocess (`run`) for its main good and bad cases; the larger
tables call the same `main()` in-process (`call`) to keep the suite fast.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from routeguard import Policy
from routeguard.cli import COMMANDS, build_parser, main
from routeguard.errors import UsageError
from routeguard.tools.introspect import list_routes, load_app
from routeguard.tools.lint import lint
from routeguard.tools.matrix import build

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).with_name("routeguard")
FASTAPI_POLICY = "examples/fastapi_app/routeguard.toml"
FLASK_POLICY = "examples/flask_app/routeguard.toml"
FASTAPI_APP = "examples.fastapi_app.app:app"
FLASK_APP = "examples.flask_app.app:app"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    # No secrets in the environment: no command needs one.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "RG_TEST_"))}
    return subprocess.run([str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=120,
                          check=False)


def call(*args: str) -> subprocess.CompletedProcess[str]:
    """The same command in-process (same parser, same error handling)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(args))
    return subprocess.CompletedProcess(["routeguard", *args], status, out.getvalue(), err.getvalue())


def assert_one_line_error(result: subprocess.CompletedProcess[str], status: int, *fragments: str) -> None:
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("routeguard: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert result.stdout == ""


@pytest.mark.slow
def test_console_script_is_installed() -> None:
    assert SCRIPT.exists()
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("routeguard ")


# -- check ---------------------------------------------------------------------------------------

SHADOWED = """
[[rules]]
path = "/api/**"
[[rules]]
path = "/api/admin/**"
roles = ["admin"]
"""


@pytest.mark.slow
@pytest.mark.parametrize("policy", [FASTAPI_POLICY, FLASK_POLICY], ids=["fastapi", "flask"])
def test_check_valid_example_without_secrets(policy: str) -> None:
    result = run("check", policy)
    assert result.returncode == 0, result.stderr
    assert f"{policy}: valid: 10 rule(s), mode enforce, login_url /login" in result.stdout
    assert result.stdout.rstrip().endswith("no findings")


@pytest.mark.slow
@pytest.mark.parametrize(("strict", "status"), [pytest.param([], 0, id="warn"), pytest.param(["--strict"], 1,
                                                                                             id="strict")])
def test_check_reports_shadowed_rule(tmp_path: Path, strict: list[str], status: int) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(SHADOWED)
    result = run("check", str(path), *strict)
    assert result.returncode == status
    assert "warning: rule #2 (path '/api/admin/**'): never matches" in result.stdout
    assert "decided earlier by #1 ('/api/**')" in result.stdout
    assert "1 warning(s)" in result.stdout


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        pytest.param("rules = [", ("not valid TOML",), id="bad-toml"),
        pytest.param('[[rules]]\npath = "/reports/**"\nrole = ["admin"]\n',
                     ("rule #1 (path '/reports/**')", "unknown key 'role'", "did you mean 'roles'"), id="typo-key"),
        pytest.param('[[rules]]\npath = "/a**b"\n', ("rule #1", "'/a**b'"), id="bad-pattern"),
        pytest.param('[[rules]]\npath = "/a"\naccess = "open"\n', ("rule #1", "access", "'open'"),
                     id="bad-access"),
        pytest.param('login_url = "/login"\n[[rules]]\npath = "/login"\n', ("login_url", "public"),
                     id="login-not-public"),
    ],
)
def test_check_errors_are_one_line(tmp_path: Path, text: str, fragments: tuple[str, ...]) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    assert_one_line_error(call("check", str(path)), 1, str(path), *fragments)


@pytest.mark.slow
def test_check_bad_toml_subprocess(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("rules = [")
    assert_one_line_error(run("check", str(path)), 1, "not valid TOML")


def test_check_missing_file() -> None:
    assert_one_line_error(run("check", "no/such/policy.toml"), 1, "no/such/policy.toml", "cannot read policy")


@pytest.mark.parametrize("args", [pytest.param([], id="no-command"), pytest.param(["check"], id="no-file"),
                                  pytest.param(["frobnicate"], id="unknown-command")])
def test_usage_errors_are_one_line(args: list[str]) -> None:
    assert_one_line_error(call(*args), 2)


def _parsed(parser: Any, argv: list[str]) -> tuple[str, Any]:
    """What ``parser`` makes of ``argv``: the namespace, the usage error or the help it prints."""
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output):
            return "namespace", vars(parser.parse_args(argv))
    except UsageError as exc:
        return "error", str(exc)
    except SystemExit as exc:
        return "exit", (exc.code, output.getvalue())


@pytest.mark.parametrize("argv", [
    ["check", "p.toml"], ["check", "--strict", "p.toml"], ["check", "p.toml", "--str"], ["check"],
    ["check", "-h"], ["check", "--help"], ["check", "p.toml", "extra"], ["check", "p.toml", "--version"],
    ["check", "--", "-p.toml"], ["check", "p.toml", "--format", "json"],
    ["explain", "p.toml", "GET", "/x", "-H", "Accept: text/html", "--roles", "a,b"], ["explain", "p.toml"],
    ["explain", "p.toml", "GET", "/x", "--format", "yaml"], ["explain", "--help"],
    ["routes", "m:app", "--rules", "p.toml", "--format", "html", "-o", "out.html"], ["routes", "m:app"],
    ["init", "m:app", "-o", "x"], ["init", "-h"], ["suggest", "--from-log", "log.jsonl"], ["suggest"],
    ["diff", "m:app", "a.toml", "b.toml", "--strict"], ["diff", "m:app", "a.toml"],
])
def test_a_command_parses_the_same_with_its_parser_alone(argv: list[str]) -> None:
    """``main`` builds the sub-parser of the command it is given only (issue 16)."""
    assert argv[0] in COMMANDS
    assert _parsed(build_parser(argv[0]), argv) == _parsed(build_parser(), argv)


@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("policy", [FASTAPI_POLICY, "no/such/policy.toml"])
def test_the_collector_is_left_as_it_was(enabled: bool, policy: str) -> None:
    """``check`` pauses the garbage collector while it imports (issue 16), and restores it."""
    import gc

    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        call("check", policy)
        call("explain", policy, "GET", "/")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_the_console_script_runs_run() -> None:
    """The installed ``routeguard`` script enters through ``run`` (issue 16: it freezes before exit)."""
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="routeguard")
    assert script.value == "routeguard.cli:run"


@pytest.mark.parametrize(("policy", "status"), [(FASTAPI_POLICY, 0), ("no/such/policy.toml", 1)])
def test_run_exits_with_the_status_and_the_objects_frozen(policy: str, status: int) -> None:
    """``run`` exits with ``main``'s status, the objects alive frozen, so that CPython's last
    collection skips them (issue 16), and the command's output already written."""
    code = ("import atexit, gc, sys\n"
            "atexit.register(lambda: print('frozen', gc.get_freeze_count(), file=sys.stderr))\n"
            f"sys.argv = ['routeguard', 'check', {policy!r}]\n"
            "from routeguard.cli import run\nrun()")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == status, done.stderr
    frozen = int(done.stderr.rsplit("frozen ", 1)[1])
    assert frozen > 10_000  # pydantic, the policy model, the policy
    assert ("valid: " in done.stdout) is (status == 0)


@pytest.mark.slow
def test_usage_error_subprocess() -> None:
    assert_one_line_error(run("check"), 2, "FILE")


# -- explain -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["GET", "/admin/users", "--subject", "alice", "--roles", "user"],
                     ["firewall  pass", "rule      #7 '/admin/**' (any method): role admin",
                      "outcome   forbidden: missing role", "the guard answers 403", '{"error": "Forbidden"}'],
                     id="role-refused"),
        pytest.param(["GET", "/admin/users", "--subject", "root", "--roles", "admin,user"],
                     ["outcome   allow: allowed", "the request reaches the app"], id="role-allowed"),
        pytest.param(["GET", "/orgs/acme/projects", "--subject", "alice", "--tenants", "acme"],
                     ["params    org_id='acme'", "outcome   allow"], id="tenant-param-captured"),
        pytest.param(["GET", "/orgs/globex/projects", "--subject", "alice", "--tenants", "acme"],
                     ["forbidden: tenant not allowed", "403"], id="other-tenant"),
        pytest.param(["GET", "/dashboard?tab=1", "--header", "Accept: text/html"],
                     ["(browser)", "the guard answers 302", "location: /login?next=%2Fdashboard%3Ftab%3D1"],
                     id="browser-login-redirect"),
        pytest.param(["POST", "/dashboard", "-H", "Accept: text/html"],
                     ["rule      none matches: default deny", "the guard answers 303"], id="default-deny-post"),
        pytest.param(["GET", "/api/me"], ["401", "www-authenticate: Bearer"], id="api-anonymous"),
        pytest.param(["GET", "/api/me", "--invalid-credentials"], ['www-authenticate: Bearer error="invalid_token"'],
                     id="invalid-credentials"),
        pytest.param(["GET", "/public/..%2fadmin"],
                     ["decoded   /public/../admin", "firewall  REJECT (encoded_slash)", "the guard answers 400"],
                     id="firewall-encoded-slash"),
        pytest.param(["GET", "/admin;x=1"], ["REJECT (semicolon)"], id="firewall-semicolon"),
        pytest.param(["GET", "/%ff"], ["REJECT (invalid_utf8)"], id="firewall-invalid-utf8"),
        pytest.param(["get", "/health"], ["request   GET /health", "outcome   allow: public"], id="lowercase-method"),
        pytest.param(["POST", "/api/logout", "--subject", "alice"], ["outcome   allow", "(CSRF)"],
                     id="csrf-note-for-cookie-sessions"),
    ],
)
def test_explain(args: list[str], expected: list[str]) -> None:
    result = call("explain", FASTAPI_POLICY, *args)
    assert result.returncode == 0, result.stderr
    for fragment in expected:
        assert fragment in result.stdout, result.stdout


def test_explain_notes_rule_check_and_report_mode(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('mode = "report"\n[[rules]]\npath = "/docs/{doc_id}"\ncheck = "myapp.acl:owns"\n')
    result = call("explain", str(policy), "GET", "/docs/7", "--subject", "bob")
    assert "note      the rule's check 'myapp.acl:owns' also runs at request time" in result.stdout
    result = call("explain", str(policy), "GET", "/elsewhere", "--subject", "bob")
    assert "the guard would answer 403" in result.stdout
    assert "report mode: the refusal is logged and the request reaches the app" in result.stdout


@pytest.mark.slow
def test_explain_json() -> None:
    result = run("explain", FASTAPI_POLICY, "GET", "/orgs/acme/projects", "--subject", "bob", "--tenants", "globex",
                 "--format", "json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["rule"]["position"] == 8
    assert data["params"] == {"org_id": "acme"}
    assert data["outcome"] == "forbidden"
    assert data["response"]["status"] == 403


@pytest.mark.parametrize(
    ("args", "status", "fragments"),
    [
        pytest.param([FASTAPI_POLICY, "GTE", "/"], 2, ("unknown HTTP method 'GTE'",), id="unknown-method"),
        pytest.param([FASTAPI_POLICY, "GET", "/", "-H", "no colon"], 2, ("'no colon'",), id="bad-header"),
        pytest.param([FASTAPI_POLICY, "GET", "/", "--roles", "a", "--invalid-credentials"], 2,
                     ("--invalid-credentials",), id="identity-and-invalid"),
        pytest.param(["missing.toml", "GET", "/"], 1, ("cannot read policy",), id="missing-file"),
        pytest.param([FASTAPI_POLICY, "GET"], 2, ("PATH",), id="missing-path"),
    ],
)
def test_explain_bad_input(args: list[str], status: int, fragments: tuple[str, ...]) -> None:
    assert_one_line_error(call("explain", *args), status, *fragments)


@pytest.mark.slow
def test_explain_subprocess() -> None:
    result = run("explain", FASTAPI_POLICY, "GET", "/orgs/acme/projects", "--subject", "alice", "--tenants", "acme")
    assert result.returncode == 0, result.stderr
    assert "params    org_id='acme'" in result.stdout
    assert_one_line_error(run("explain", FASTAPI_POLICY, "GTE", "/"), 2, "unknown HTTP method 'GTE'")


# -- routes --------------------------------------------------------------------------------------

@pytest.mark.slow
def test_routes_table_fastapi() -> None:
    result = run("routes", FASTAPI_APP, "--rules", FASTAPI_POLICY)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["METHOD", "PATH", "RULE", "REQUIRES", "anonymous", "authenticated", "admin"]
    row = next(line for line in lines if "/orgs/{org_id}/projects" in line)
    assert row.split() == ["GET", "/orgs/{org_id}/projects", "#8", "/orgs/{org_id}/**", "tenant", "{org_id}",
                           "401", "tenant", "tenant"]
    admin = next(line for line in lines if line.startswith("GET") and " /admin/users" in line)
    assert admin.split()[-3:] == ["401", "403", "allow"]
    docs = next(line for line in lines if "/docs " in line + " ")
    assert "! /docs" in docs and "DEFAULT DENY" in docs
    assert any("fall to default deny" in line for line in lines)


def test_routes_strict_fails_on_default_deny() -> None:
    result = call("routes", FASTAPI_APP, "--rules", FASTAPI_POLICY, "--strict")
    assert result.returncode == 1
    assert "DEFAULT DENY" in result.stdout


@pytest.mark.slow
def test_routes_json_flask() -> None:
    result = run("routes", FLASK_APP, "--rules", FLASK_POLICY, "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    rows = {(r["method"], r["path"]): r for r in data["routes"]}
    assert rows[("GET", "/static/**")]["default_deny"] is True
    assert rows[("GET", "/orgs/{org_id}/projects")]["sources"] == ["/orgs/<org_id>/projects"]
    assert rows[("GET", "/admin")]["cells"]["admin"]["label"] == "allow"
    assert rows[("GET", "/admin")]["cells"]["anonymous"]["status"] == 401
    assert data["identities"] == ["anonymous", "authenticated", "admin"]


def test_routes_markdown() -> None:
    result = call("routes", FASTAPI_APP, "--rules", FASTAPI_POLICY, "--format", "markdown")
    assert result.returncode == 0
    assert result.stdout.startswith("| METHOD | PATH | RULE | REQUIRES | anonymous | authenticated | admin |")
    assert "| GET | `/admin/users` | #7 `/admin/**` | role admin | 401 | 403 | allow |" in result.stdout


@pytest.mark.slow
def test_routes_html_to_file(tmp_path: Path) -> None:
    out = tmp_path / "matrix.html"
    result = run("routes", FASTAPI_APP, "--rules", FASTAPI_POLICY, "--format", "html", "-o", str(out))
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert '<table id="matrix">' in page
    assert "DEFAULT DENY" in page
    for external in ("<script", "<link", "src=", "url(", "@import", "http://", "https://"):
        assert external not in page


def test_routes_reports_unused_rules(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(Path(ROOT / FASTAPI_POLICY).read_text() + '\n[[rules]]\npath = "/reports/**"\n')
    result = call("routes", FASTAPI_APP, "--rules", str(policy))
    assert "rule #11 ('/reports/**', any method) matches no route" in result.stdout


@pytest.mark.parametrize(
    ("args", "status", "fragments"),
    [
        pytest.param(["examples.nope:app", "--rules", FASTAPI_POLICY], 1,
                     ("cannot import 'examples.nope'", "ModuleNotFoundError"), id="missing-module"),
        pytest.param(["examples.fastapi_app.app:nope", "--rules", FASTAPI_POLICY], 1, ("no attribute 'nope'",),
                     id="missing-attribute"),
        pytest.param(["examples.fastapi_app.app", "--rules", FASTAPI_POLICY], 1, ("MODULE:APP",), id="no-colon"),
        pytest.param(["os:path", "--rules", FASTAPI_POLICY], 1, ("cannot list the routes",), id="not-an-app"),
        pytest.param([FASTAPI_APP, "--rules", "missing.toml"], 1, ("cannot read policy",), id="missing-policy"),
        pytest.param([FASTAPI_APP], 2, ("--rules",), id="rules-required"),
        pytest.param([FASTAPI_APP, "--rules", FASTAPI_POLICY, "--format", "pdf"], 2, ("pdf",), id="bad-format"),
    ],
)
def test_routes_bad_input(args: list[str], status: int, fragments: tuple[str, ...]) -> None:
    assert_one_line_error(call("routes", *args), status, *fragments)


@pytest.mark.slow
def test_routes_missing_module_subprocess() -> None:
    assert_one_line_error(run("routes", "examples.nope:app", "--rules", FASTAPI_POLICY), 1, "cannot import")


def test_routes_app_that_raises_on_import(tmp_path: Path) -> None:
    (tmp_path / "broken_app.py").write_text("raise RuntimeError('database is down')\n")
    (tmp_path / "p.toml").write_text("")
    assert_one_line_error(run("routes", "broken_app:app", "--rules", "p.toml", cwd=tmp_path), 1,
                          "RuntimeError: database is down")


# -- init ----------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("app", [FASTAPI_APP, FLASK_APP], ids=["fastapi", "flask"])
def test_init_writes_a_policy_covering_every_route(app: str) -> None:
    result = run("init", app)
    assert result.returncode == 0, result.stderr
    policy = Policy.from_toml_string(result.stdout, resolve_secrets=False)
    assert policy.mode == "report"
    assert policy.login_url == "/login"
    assert [f.code for f in lint(policy)] == ["report-mode"]
    matrix = build(list_routes(load_app(app)), policy)
    assert matrix.default_deny_rows == []
    assert matrix.unused_rules == ()
    access = {(r.route.path, r.method): r.pieces[0].rule.access for r in matrix.rows if r.pieces[0].rule}
    assert access[("/health", "GET")] == "public"
    assert access[("/login", "POST")] == "public"
    assert access[("/admin/users", "GET")] == "authenticated"
    assert access[("/", "GET")] == "authenticated"
    assert "# " in result.stdout  # commented


@pytest.mark.slow
def test_init_output_file(tmp_path: Path) -> None:
    out = tmp_path / "routeguard.toml"
    result = run("init", FLASK_APP, "--output", str(out))
    assert result.returncode == 0
    assert result.stdout == ""
    policy = Policy.from_toml(out, resolve_secrets=False)
    assert any(r.path == "/static/**" and r.access == "public" for r in policy.rules)


@pytest.mark.parametrize(
    ("args", "status", "fragments"),
    [
        pytest.param(["examples.nope:app"], 1, ("cannot import",), id="missing-module"),
        pytest.param([], 2, ("MODULE:APP",), id="no-app"),
        pytest.param([FLASK_APP, "-o", "/no/such/dir/x.toml"], 1, ("cannot write",), id="unwritable"),
    ],
)
def test_init_bad_input(args: list[str], status: int, fragments: tuple[str, ...]) -> None:
    assert_one_line_error(call("init", *args), status, *fragments)


@pytest.mark.slow
def test_init_missing_module_subprocess() -> None:
    assert_one_line_error(run("init", "examples.nope:app"), 1, "cannot import")


INLINE_SECRET = "inline-secret-value-0123456789abcdef-XYZ"


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["check", "{policy}"], id="check"),
        pytest.param(["explain", "{policy}", "GET", "/admin", "--roles", "admin"], id="explain"),
        pytest.param(["explain", "{policy}", "GET", "/admin", "--format", "json"], id="explain-json"),
        pytest.param(["routes", FASTAPI_APP, "--rules", "{policy}", "--format", "json"], id="routes-json"),
    ],
)
def test_no_command_prints_a_secret(tmp_path: Path, args: list[str]) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(f'[auth.bearer]\nalgorithms = ["HS256"]\nsecret = "{INLINE_SECRET}"\n'
                      '[[rules]]\npath = "/admin/**"\nroles = ["admin"]\n')
    result = call(*(a.replace("{policy}", str(policy)) for a in args))
    assert result.returncode == 0, result.stderr
    assert INLINE_SECRET not in result.stdout + result.stderr
