"""routeguard.testing: credentials minted from a policy, assert_access on both adapters, the
pytest plugin (through its real entry point) and a side-effect-free import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from routeguard import ASGIGuard, Identity, Policy, WSGIGuard
from routeguard.testing import (
    CredentialError,
    Credentials,
    assert_access,
    call_asgi,
    call_wsgi,
    credentials,
    find_policy,
    identity_named,
)

from .support import JWT_SECRET, POLICY_TOML, flask_app, starlette_app

ROOT = Path(__file__).resolve().parent.parent

MATRIX: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/admin"): {"anonymous": 401, "user": 403, "admin": 200},
    ("GET", "/health"): {"anonymous": 200, "user": 200},
    ("GET", "/secret/x"): {"anonymous": 401, "user": 404, "admin": 200},
    ("DELETE", "/api/items/7"): {"anonymous": 401, "user": 403, "admin": 200},
    ("GET", "/other"): {"anonymous": 401, "authenticated": 403},
    ("GET", "/public/..%2fadmin"): {"anonymous": 400, "admin": 400},
}


def guarded(kind: str, policy: Policy) -> Any:
    if kind == "asgi":
        return ASGIGuard(starlette_app(), policy=policy)
    app = flask_app()
    app.wsgi_app = WSGIGuard(app.wsgi_app, policy=policy)
    return app


@pytest.fixture(params=["asgi", "wsgi"])
def app(request: pytest.FixtureRequest, policy: Policy) -> Any:
    return guarded(request.param, policy)


BEARER_BLOCK = '[auth.bearer]\nalgorithms = ["HS256"]\nsecret_env = "RG_TEST_JWT_SECRET"\naudience = "tests"\n'


def session_policy(fmt: str) -> Policy:
    """The test policy with only a session backend, in ``fmt``."""
    assert BEARER_BLOCK in POLICY_TOML
    text = POLICY_TOML.replace(BEARER_BLOCK, "").replace('format = "starlette"', f'format = "{fmt}"')
    return Policy.from_toml_string(text)


# -- credentials ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("backend", "fmt"),
    [pytest.param("bearer", "starlette", id="bearer"), pytest.param("session", "starlette", id="starlette-cookie"),
     pytest.param("session", "flask", id="flask-cookie")],
)
@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_minted_credentials_are_accepted(kind: str, backend: str, fmt: str) -> None:
    policy = session_policy(fmt) if backend == "session" else Policy.from_toml_string(POLICY_TOML)
    app = guarded(kind, policy)
    send = call_asgi if kind == "asgi" else call_wsgi
    admin = credentials(policy, Identity.of("root", roles=["admin"]), backend=backend)
    user = credentials(policy, Identity.of("alice", roles=["user"], tenants=["acme"]), backend=backend)
    assert list(admin) == (["Authorization"] if backend == "bearer" else ["Cookie"])
    assert send(app, "GET", "/admin", admin).status == 200
    assert send(app, "GET", "/admin", user).status == 403
    assert send(app, "GET", "/orgs/acme/x", user).status == 200
    assert send(app, "GET", "/orgs/globex/x", user).status == 403


def test_permissions_become_scope_claim(policy: Policy) -> None:
    app = guarded("asgi", policy)
    reader = credentials(policy, Identity.of("r", permissions=["reports:read"]))
    assert call_asgi(app, "GET", "/reports/q1", reader).status == 200
    assert call_asgi(app, "GET", "/reports/q1", credentials(policy, Identity.of("n"))).status == 403


def test_credentials_helper_object(policy: Policy) -> None:
    creds = Credentials(policy)
    app = guarded("wsgi", policy)
    assert creds.anonymous == {}
    assert call_wsgi(app, "GET", "/admin", creds("root", roles=["admin"])).status == 200
    assert call_wsgi(app, "GET", "/admin", creds.named("admin")).status == 200
    assert call_wsgi(app, "GET", "/admin", creds.named("authenticated")).status == 403


def test_rs256_needs_the_private_key(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "jwt.pem").write_bytes(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    policy_file = tmp_path / "routeguard.toml"
    policy_file.write_text('[auth.bearer]\nalgorithms = ["RS256"]\npublic_key_file = "jwt.pem"\n'
                           '[[rules]]\npath = "/admin"\nroles = ["admin"]\n')
    policy = Policy.from_toml(policy_file)
    root = Identity.of("root", roles=["admin"])
    with pytest.raises(CredentialError, match="cannot mint credentials"):
        credentials(policy, root)
    with pytest.raises(CredentialError, match="private key"):
        credentials(policy, root, backend="bearer")
    app = guarded("asgi", policy)
    assert call_asgi(app, "GET", "/admin", credentials(policy, root, key=private)).status == 200


@pytest.mark.parametrize(
    ("toml", "match"),
    [
        pytest.param('[[rules]]\npath = "/a"\n', "no a bearer", id="no-backend"),
        pytest.param('[store]\nurl = "memory://"\n[auth.session]\nformat = "server"\n[[rules]]\npath = "/a"\n',
                     "no a bearer", id="server-sessions"),
    ],
)
def test_credentials_errors(toml: str, match: str) -> None:
    policy = Policy.from_toml_string(toml, resolve_secrets=False)
    with pytest.raises(CredentialError, match=match):
        credentials(policy, Identity.of("x"))


def test_missing_secret_names_the_variable_not_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = Policy.from_toml_string(POLICY_TOML)
    monkeypatch.delenv("RG_TEST_JWT_SECRET")
    with pytest.raises(CredentialError, match="'RG_TEST_JWT_SECRET' is not set") as info:
        credentials(policy, Identity.of("x"))
    assert JWT_SECRET not in str(info.value)


@pytest.mark.parametrize(("name", "roles"), [("authenticated", set()), ("admin", {"admin"}), ("user", {"user"})],
                         ids=["authenticated", "admin", "user"])
def test_identity_named(name: str, roles: set[str]) -> None:
    identity = identity_named(name)
    assert identity is not None and identity.roles == roles
    assert identity_named("anonymous") is None


# -- assert_access ----------------------------------------------------------------------------------

def test_assert_access_passes_on_both_adapters(app: Any) -> None:
    assert find_policy(app) is not None
    assert_access(app, MATRIX)


def test_assert_access_reports_every_mismatch(app: Any) -> None:
    wrong = {
        ("GET", "/admin"): {"anonymous": 401, "user": 200, "admin": 403},
        ("GET", "/health"): {"anonymous": 200},
        ("GET", "/archive/old"): {"admin": 200},
    }
    with pytest.raises(AssertionError) as info:
        assert_access(app, wrong)
    message = str(info.value)
    lines = message.splitlines()
    assert lines[0].startswith("3 of 5 access checks failed")
    assert lines[1:] == [
        "  GET /admin as user: expected 200, got 403 [policy: rule #4 '/admin/**' -> forbidden: missing role]",
        "  GET /admin as admin: expected 403, got 200 [policy: rule #4 '/admin/**' -> allow: allowed]",
        "  GET /archive/old as admin: expected 200, got 403 [policy: rule #10 '/archive/**' -> forbidden: "
        "rule denies access]",
    ]
    assert "Bearer" not in message and "ey" + "J" not in message  # no credential in the report


def test_assert_access_with_explicit_identities_and_choices(policy: Policy) -> None:
    app = guarded("asgi", policy)
    acme = Identity.of("alice", roles=["user"], tenants=["acme"])
    raw = credentials(policy, Identity.of("root", roles=["admin"]))
    assert_access(
        app,
        {("GET", "/orgs/acme/projects"): {"acme-user": 200, "raw-admin": 403, "anonymous": {401, 302}},
         ("GET", "/login"): {"anonymous": 200}},
        identities={"acme-user": acme, "raw-admin": raw},
        policy=policy,
    )


def test_assert_access_browser_headers(policy: Policy) -> None:
    app = guarded("wsgi", policy)
    assert_access(app, {("GET", "/admin"): {"anonymous": 302}}, headers={"Accept": "text/html"})


def test_assert_access_needs_a_policy_for_identities() -> None:
    bare = starlette_app()
    assert find_policy(bare) is None
    with pytest.raises(CredentialError, match="pass policy="):
        assert_access(bare, {("GET", "/admin"): {"admin": 200}})


def test_find_policy_through_add_middleware(policy: Policy) -> None:
    from starlette.applications import Starlette

    app = Starlette()
    app.add_middleware(ASGIGuard, policy=policy)
    assert find_policy(app) is policy


def test_unknown_adapter_is_an_error(policy: Policy) -> None:
    with pytest.raises(ValueError, match="adapter"):
        assert_access(guarded("asgi", policy), {("GET", "/health"): {"anonymous": 200}}, adapter="cgi")


# -- the pytest plugin, through the installed entry point --------------------------------------------

PLUGIN_TESTS = '''
import pytest
from routeguard import ASGIGuard, Policy
from support_app import build

def test_matrix(routeguard_policy, routeguard_assert_access):
    app = build(routeguard_policy)
    routeguard_assert_access(app, {("GET", "/admin"): {"anonymous": 401, "user": 403, "admin": 200}})

def test_credentials(routeguard_policy, routeguard_credentials):
    from routeguard.testing import call_asgi
    app = build(routeguard_policy)
    assert call_asgi(app, "GET", "/admin", routeguard_credentials("root", roles=["admin"])).status == 200

def test_wrong_matrix(routeguard_policy, routeguard_assert_access):
    routeguard_assert_access(build(routeguard_policy), {("GET", "/admin"): {"user": 200, "admin": 403}})
'''

SUPPORT_APP = '''
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from routeguard import ASGIGuard

async def ok(request):
    return PlainTextResponse("ok")

def build(policy):
    return ASGIGuard(Starlette(routes=[Route("/admin", ok), Route("/login", ok)]), policy=policy)
'''

PLUGIN_POLICY = '''
login_url = "/login"
[auth.bearer]
algorithms = ["HS256"]
secret_env = "PLUGIN_JWT_SECRET"
[[rules]]
path = "/login"
access = "public"
[[rules]]
path = "/admin"
roles = ["admin"]
'''


def run_pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PLUGIN_JWT_SECRET": "plugin-secret-0123456789abcdef0123456789"}
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=directory,
                          capture_output=True, text=True, env=env, timeout=120, check=False)


@pytest.mark.slow
def test_plugin_fixtures_via_entry_point(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text(PLUGIN_POLICY)
    (tmp_path / "pytest.ini").write_text("[pytest]\nrouteguard_policy = policy.toml\n")
    (tmp_path / "support_app.py").write_text(SUPPORT_APP)
    (tmp_path / "test_app.py").write_text(PLUGIN_TESTS)
    result = run_pytest(tmp_path, "-rf")
    assert "1 failed, 2 passed" in result.stdout, result.stdout + result.stderr
    assert "2 of 2 access checks failed (asgi)" in result.stdout
    assert "GET /admin as user: expected 200, got 403" in result.stdout


@pytest.mark.slow
def test_plugin_without_policy_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text("def test_x(routeguard_policy):\n    pass\n")
    result = run_pytest(tmp_path)
    assert "1 error" in result.stdout or "1 failed" in result.stdout, result.stdout
    assert "set `routeguard_policy = path/to/routeguard.toml`" in result.stdout


@pytest.mark.slow
def test_plugin_leaves_unrelated_suites_alone(tmp_path: Path) -> None:
    """Fixtures named like common ones (policy, app, client) are the project's own."""
    (tmp_path / "conftest.py").write_text("import pytest\n@pytest.fixture\ndef policy():\n    return 'mine'\n")
    (tmp_path / "test_x.py").write_text("def test_x(policy):\n    assert policy == 'mine'\n")
    result = run_pytest(tmp_path, "--fixtures")
    assert "routeguard_assert_access" in result.stdout
    assert run_pytest(tmp_path).returncode == 0


IMPORT_PROBE = '''
import json, logging, sys
import pytest
before = set(sys.modules)
path, handlers = list(sys.path), list(logging.getLogger().handlers)
rg_handlers = list(logging.getLogger("routeguard").handlers)
import routeguard._pytest_plugin  # what the entry point loads in every pytest run
print(json.dumps({
    "new": sorted(m for m in set(sys.modules) - before if not m.startswith("_")),
    "path_changed": sys.path != path,
    "handlers_changed": logging.getLogger().handlers != handlers
        or logging.getLogger("routeguard").handlers != rg_handlers,
    "fixtures": hasattr(routeguard._pytest_plugin, "routeguard_policy"),
}))
'''


def test_import_is_cheap_and_side_effect_free() -> None:
    result = subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True, check=True,
                            cwd=ROOT)
    probe = json.loads(result.stdout)
    assert probe["new"] == ["routeguard", "routeguard._pytest_plugin"]  # no framework, no pydantic, no jwt
    assert probe["path_changed"] is False
    assert probe["handlers_changed"] is False
    assert probe["fixtures"] is True



def test_assert_access_inside_a_running_event_loop(policy: Policy) -> None:
    import asyncio

    app = guarded("asgi", policy)

    async def async_test() -> None:
        assert_access(app, {("GET", "/admin"): {"anonymous": 401, "admin": 200}})

    asyncio.run(async_test())
