"""Loading policies: one model from Python or TOML, and load errors that name rule and key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from routeguard import Policy, PolicyError, Rule
from routeguard.backends.bearer import BearerBackend
from routeguard.backends.session import SessionCookieBackend
from routeguard.policy.build import build, runtime_for

from .support import POLICY_TOML

BASE = """
login_url = "/login"
[[rules]]
path = "/login"
access = "public"
"""


def load(extra: str, top: str = "") -> Policy:
    """BASE plus ``extra`` (tables) with ``top`` (top-level keys) before every table."""
    return Policy.from_toml_string(top + BASE + extra)


@pytest.mark.parametrize(("extra", "expected"), [
    pytest.param('[[rules]]\npath = "/reports/**"\nrole = ["admin"]\n',
                 ["rule #2", "'/reports/**'", "unknown key 'role'", "did you mean 'roles'"], id="rule-typo"),
    pytest.param('[[rules]]\npath = "/x"\naccess = "admin"\n',
                 ["rule #2", "'/x'", "access", "'admin' is not one of"], id="unknown-access"),
    pytest.param('[[rules]]\npath = "/a**b"\n', ["rule #2", "'/a**b'", "path", "whole segment"], id="bad-glob"),
    pytest.param('[[rules]]\npath = "/a/{id"\n', ["rule #2", "not a parameter"], id="unbalanced-brace"),
    pytest.param('[[rules]]\npath = "/{a}/{a}"\n', ["rule #2", "twice"], id="duplicate-param"),
    pytest.param('[[rules]]\npath = "/orgs/{org}/**"\ntenant = "org_id"\n',
                 ["rule #2", "tenant = 'org_id'", "parameter"], id="unknown-tenant-param"),
    pytest.param('[[rules]]\npath = "/x"\naccess = "public"\nroles = ["admin"]\n',
                 ["rule #2", "roles cannot be combined", "'public'"], id="public-with-roles"),
    pytest.param('[[rules]]\npath = "/x"\naccess = "deny"\npermissions = ["p"]\n',
                 ["rule #2", "permissions cannot be combined", "'deny'"], id="deny-with-permissions"),
    pytest.param('[[rules]]\npath = "/x"\nroles = []\n', ["rule #2", "roles", "never be satisfied"], id="empty-roles"),
    pytest.param('[[rules]]\npath = "/x"\nmethods = []\n', ["rule #2", "methods", "matches no request"],
                 id="empty-methods"),
    pytest.param('[[rules]]\npath = "/x"\nmethods = ["GE T"]\n', ["rule #2", "not an HTTP method"], id="bad-method"),
    pytest.param('[[rules]]\npath = "/x"\nhide = "yes"\n', ["rule #2", "hide"], id="hide-not-bool"),
    pytest.param('[[rules]]\npath = "x"\n', ["rule #2", "must start with '/'"], id="relative-path"),
    pytest.param('[[rules]]\nmethods = ["GET"]\n', ["rule #2", "path", "Field required"], id="missing-path"),
    pytest.param('[auth.bearer]\nalgorithms = ["HS256"]\nsecret_env = "X"\nissuer_url = "a"\n',
                 ["auth.bearer", "unknown key 'issuer_url'"], id="nested-typo"),
    pytest.param('[firewall]\nrelax = ["semicolons"]\n', ["firewall.relax", "unknown firewall class"],
                 id="firewall-class"),
])
def test_load_errors_name_rule_and_key(extra: Any, expected: Any) -> None:
    with pytest.raises(PolicyError) as info:
        load(extra)
    for text in expected:
        assert text in str(info.value)


@pytest.mark.parametrize(("top", "expected"), [
    pytest.param('mode = "audit"\n', ["mode", "'enforce' or 'report'"], id="bad-mode"),
    pytest.param('login = "/login"\n', ["unknown key 'login'", "login_url"], id="top-level-typo"),
])
def test_top_level_errors(top: Any, expected: Any) -> None:
    with pytest.raises(PolicyError) as info:
        load("", top=top)
    for text in expected:
        assert text in str(info.value)
    assert "rule #" not in str(info.value)


def test_login_url_must_be_covered_by_a_public_rule() -> None:
    with pytest.raises(PolicyError, match=r"login_url '/signin'.*no rule covers it"):
        Policy.from_toml_string('login_url = "/signin"\n[[rules]]\npath = "/login"\naccess = "public"\n')
    with pytest.raises(PolicyError, match=r"rule #1 \('/\*\*', access 'authenticated'\)"):
        Policy.from_toml_string('login_url = "/login"\n[[rules]]\npath = "/**"\n')
    with pytest.raises(PolicyError, match="plain path"):
        Policy(login_url="https://evil.example/login", rules=[Rule(path="/**", access="public")])


def test_policy_without_login_url_is_valid() -> None:
    assert Policy(rules=[Rule(path="/x")]).login_url is None


@pytest.mark.parametrize(("section", "expected"), [
    pytest.param('[auth.bearer]\nalgorithms = []\nsecret_env = "RG_TEST_JWT_SECRET"\n', "non-empty allowlist",
                 id="empty-allowlist"),
    pytest.param('[auth.bearer]\nalgorithms = ["none"]\nsecret_env = "RG_TEST_JWT_SECRET"\n', "'none' is not allowed",
                 id="alg-none"),
    pytest.param('[auth.bearer]\nalgorithms = ["HS256", "RS256"]\nsecret_env = "RG_TEST_JWT_SECRET"\n',
                 "mixes key families", id="mixed-families"),
    pytest.param('[auth.bearer]\nalgorithms = ["HS256"]\nsecret_env = "RG_SHORT"\n', "needs at least 32",
                 id="short-hmac"),
    pytest.param('[auth.bearer]\nalgorithms = ["HS512"]\nsecret_env = "RG_TEST_JWT_SECRET"\n', "needs at least 64",
                 id="hs512-needs-64"),
    pytest.param('[auth.bearer]\nalgorithms = ["HS256"]\nsecret_env = "RG_MISSING"\n',
                 "environment variable 'RG_MISSING' is not set", id="missing-env"),
    pytest.param('[auth.bearer]\nalgorithms = ["HS256"]\n', "exactly one key source", id="no-key"),
    pytest.param('[auth.bearer]\nalgorithms = ["RS256"]\nsecret_env = "RG_TEST_JWT_SECRET"\n',
                 "cannot verify RS256", id="rs-with-secret"),
    pytest.param('[auth.bearer]\nalgorithms = ["HS256"]\npublic_key_file = "k.pem"\n', "cannot verify HS256",
                 id="hs-with-public-key"),
    pytest.param('[auth.bearer]\nalgorithms = ["RS256"]\npublic_key_file = "missing.pem"\n', "cannot read",
                 id="missing-key-file"),
    pytest.param('[auth.session]\nformat = "django"\nsecret_env = "RG_TEST_SESSION_SECRET"\n', "format",
                 id="bad-session-format"),
    pytest.param('[auth.session]\nformat = "flask"\n', "exactly one of secret_env", id="session-no-secret"),
])
def test_backend_load_errors(section: Any, expected: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RG_SHORT", "too-short-secret")
    with pytest.raises(PolicyError) as info:
        load(section)
    assert expected in str(info.value)


def pem(key: Any) -> bytes:
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return bytes(pem)


def test_public_key_file_is_relative_to_the_policy_file(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "jwt.pem").write_bytes(pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    path = tmp_path / "routeguard.toml"
    path.write_text(BASE + '[auth.bearer]\nalgorithms = ["RS256", "PS256"]\npublic_key_file = "keys/jwt.pem"\n')
    policy = Policy.from_toml(path)
    backend = runtime_for(policy).backends[0]
    assert isinstance(backend, BearerBackend)
    assert backend.family == "RSA"


def test_public_key_of_the_wrong_family_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ec.pem").write_bytes(pem(ec.generate_private_key(ec.SECP256R1())))
    path = tmp_path / "routeguard.toml"
    path.write_text(BASE + '[auth.bearer]\nalgorithms = ["RS256"]\npublic_key_file = "ec.pem"\n')
    with pytest.raises(PolicyError, match="cannot verify RSA"):
        Policy.from_toml(path)
    (tmp_path / "junk.pem").write_text("not a key")
    path.write_text(BASE + '[auth.bearer]\nalgorithms = ["ES256"]\npublic_key_file = "junk.pem"\n')
    with pytest.raises(PolicyError, match="not a PEM public key"):
        Policy.from_toml(path)


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy"):
        Policy.from_toml(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rules]\npath = ")
    with pytest.raises(PolicyError, match="not valid TOML"):
        Policy.from_toml(bad)


def test_secrets_can_be_skipped_for_linting() -> None:
    policy = Policy.from_toml_string(BASE + '[auth.bearer]\nalgorithms = ["HS256"]\nsecret_env = "RG_MISSING"\n',
                                     resolve_secrets=False)
    with pytest.raises(PolicyError, match="RG_MISSING"):  # building it would read the secret
        build(policy)
    assert policy.auth.bearer is not None


def test_backend_order_follows_the_file() -> None:
    session_first = load('[auth.session]\nsecret_env = "RG_TEST_SESSION_SECRET"\n'
                         '[auth.bearer]\nalgorithms = ["HS256"]\nsecret_env = "RG_TEST_JWT_SECRET"\n')
    assert [type(b) for b in runtime_for(session_first).backends] == [SessionCookieBackend, BearerBackend]
    bearer_first = load('[auth.bearer]\nalgorithms = ["HS256"]\nsecret_env = "RG_TEST_JWT_SECRET"\n'
                        '[auth.session]\nsecret_env = "RG_TEST_SESSION_SECRET"\n')
    assert [type(b) for b in runtime_for(bearer_first).backends] == [BearerBackend, SessionCookieBackend]


def test_python_and_toml_policies_are_the_same_model() -> None:
    from_toml = Policy.from_toml_string(POLICY_TOML)
    from_python = Policy(
        login_url="/login",
        auth={"bearer": {"algorithms": ["HS256"], "secret_env": "RG_TEST_JWT_SECRET", "audience": "tests"},
              "session": {"format": "starlette", "secret_env": "RG_TEST_SESSION_SECRET"}},
        rules=[Rule(path="/login", access="public"),
               Rule(path="/health", methods=["GET"], access="public"),
               Rule(path="/public/**", access="public"),
               Rule(path="/admin/**", roles=["admin"]),
               Rule(path="/secret/**", roles=["admin"], hide=True),
               Rule(path="/orgs/{org_id}/**", tenant="org_id"),
               Rule(path="/reports/**", permissions=["reports:read"]),
               Rule(path="/api/items/{item_id}", methods=["DELETE"], roles=["admin"]),
               Rule(path="/api/**"),
               Rule(path="/archive/**", access="deny")],
    )
    assert from_python.model_dump() == from_toml.model_dump()
    def shape(policy: Any) -> Any:
        return [(r.pattern, r.methods, r.access, r.roles, r.permissions, r.tenant, r.hide, r.params)
                for r in policy.compiled_rules]

    assert shape(from_python) == shape(from_toml)


SECTIONS = ["store", "firewall", "csrf", "hooks", "throttle", "responses", "auth"]


@pytest.mark.parametrize("name", SECTIONS)
def test_section_defaults_are_what_their_model_builds_from_nothing(name: str) -> None:
    """The sections validated only when given (issue 16) default to exactly ``Section()``."""
    field = Policy.model_fields[name]
    section = field.annotation
    assert isinstance(section, type)
    built = section()
    for default in (field.default, getattr(Policy(), name)):
        assert type(default) is section
        assert default == built
        assert default.model_fields_set == built.model_fields_set == set()
        assert default.model_dump() == built.model_dump()


@pytest.mark.parametrize(("data", "expected"), [
    pytest.param({"store": {"url": "redis://h", "timout": 1}}, "store: unknown key 'timout' (did you mean 'timeout'?)",
                 id="store-typo"),
    pytest.param({"store": {"timeout": 0}}, "store.timeout: Input should be greater than 0", id="store-bound"),
    pytest.param({"store": "redis://h"}, "store: Input should be a valid dictionary or instance of StoreConfig",
                 id="store-not-a-table"),
    pytest.param({"hooks": {"threads": 0}}, "hooks.threads: Input should be greater than or equal to 1",
                 id="hooks-bound"),
    pytest.param({"csrf": {"enabled": "yes"}}, "csrf.enabled: Input should be a valid boolean", id="csrf-strict-bool"),
    pytest.param({"throttle": {"trusted_proxies": ["10.0.0.0/33"]}},
                 "throttle.trusted_proxies: '10.0.0.0/33' is not an IP address or network", id="throttle-network"),
    pytest.param({"responses": {"next_param": "a b"}}, "responses.next_param: 'a b' is not a query parameter name",
                 id="responses-next-param"),
    pytest.param({"auth": {"session": {"secret": "s" * 40, "cookies": "x"}}},
                 "auth.session: unknown key 'cookies' (did you mean 'cookie'?)", id="session-typo"),
    pytest.param({"auth": {"session": {"format": "server", "secret": "s" * 40}}},
                 "auth.session: format = 'server' needs no secret", id="session-model-check"),
    pytest.param({"auth": {"signed_cookie": {"cookie": "ds"}}}, "auth.signed_cookie.secret_env: Field required",
                 id="signed-cookie-required"),
    pytest.param({"auth": {"api_key": {"keys": [{"hash": "sha256:" + "0" * 64, "subject": "s", "role": ["a"]}]}}},
                 "auth.api_key.keys: unknown key 'role' (did you mean 'roles'?)", id="api-key-entry-typo"),
    pytest.param({"rules": [{"path": "/x"}], "store": {"pool_size": 0}, "throttle": {"window": 0}},
                 "store.pool_size: Input should be greater than 0; "
                 "throttle.window: Input should be greater than or equal to 1", id="every-section-reported"),
])
def test_sections_validated_when_given_report_like_nested_models(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(PolicyError) as info:
        Policy(**data)
    assert str(info.value).startswith(expected)


def test_a_section_instance_is_taken_as_given() -> None:
    from routeguard import StoreConfig

    store = StoreConfig(url="redis://h")
    policy = Policy(store=store)
    assert policy.store is store
    assert Policy(store={"url": "redis://h"}).store == store
    assert Policy(store={"url": "redis://h"}) == policy


def test_python_rule_errors_are_policy_errors() -> None:
    with pytest.raises(PolicyError, match=r"rule \(path '/x'\).*unknown key 'role'"):
        Rule(path="/x", role=["admin"])
    with pytest.raises(PolicyError, match="roles cannot be combined"):
        Rule(path="/x", access="public", roles=["a"])


def test_methods_are_normalized_and_get_covers_head() -> None:
    policy = Policy(rules=[Rule(path="/x", methods=["get"])])
    assert policy.rules[0].methods == ["GET"]
    assert policy.compiled_rules[0].methods == frozenset({"GET", "HEAD"})


def test_no_switch_turns_default_into_allow() -> None:
    for key in ("default", "default_access", "default_allow", "fallback"):
        with pytest.raises(PolicyError, match=f"unknown key '{key}'"):
            load("", top=f'{key} = "allow"\n')


def test_secrets_never_appear_in_errors_or_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RG_SHORT", "short-secret-value")
    with pytest.raises(PolicyError) as info:
        load('[auth.bearer]\nalgorithms = ["HS256"]\nsecret_env = "RG_SHORT"\n')
    assert "short-secret-value" not in str(info.value)
    policy = Policy(rules=[], auth={"bearer": {"algorithms": ["HS256"], "secret": "s" * 40}})
    assert "s" * 40 not in repr(policy)
