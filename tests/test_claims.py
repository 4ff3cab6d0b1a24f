"""Claims where providers put them: literal keys, dotted paths, Keycloak-shaped tokens."""

from __future__ import annotations

from typing import Any

import pytest

from routeguard import Policy, PolicyError
from routeguard.core.claims import ClaimMap, claim_strings, lookup
from routeguard.errors import AuthenticationError

from .support import JWT_SECRET, bearer, sender
from .support import token as mint

KEYCLOAK = """
[auth.bearer]
algorithms = ["HS256"]
secret_env = "RG_TEST_JWT_SECRET"
audience = "tests"
subject_claim = "preferred_username"
roles_claim = "{roles}"
[[rules]]
path = "/admin/**"
roles = ["admin"]
[[rules]]
path = "/orgs/{{org_id}}/**"
tenant = "org_id"
[[rules]]
path = "/**"
"""


def keycloak_token(**claims: object) -> str:
    claims.setdefault("preferred_username", "alice")
    return mint("uuid-of-alice", roles=(), key=JWT_SECRET, **claims)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
@pytest.mark.parametrize(
    ("roles_claim", "claims", "status"),
    [
        pytest.param("realm_access.roles", {"realm_access": {"roles": ["admin", "offline_access"]}}, 200,
                     id="realm-roles-admin"),
        pytest.param("realm_access.roles", {"realm_access": {"roles": ["user"]}}, 403, id="realm-roles-user"),
        pytest.param("realm_access.roles", {"realm_access": {}}, 403, id="realm-roles-missing"),
        pytest.param("realm_access.roles", {"realm_access": "admin"}, 403, id="realm-access-not-object"),
        pytest.param("resource_access.my-api.roles", {"resource_access": {"my-api": {"roles": ["admin"]}}}, 200,
                     id="client-roles-admin"),
        pytest.param("resource_access.my-api.roles", {"resource_access": {"other": {"roles": ["admin"]}}}, 403,
                     id="other-client-roles"),
        pytest.param("https://example.com/roles", {"https://example.com/roles": ["admin"]}, 200,
                     id="literal-namespaced-key"),
        pytest.param("a.b", {"a.b": ["admin"], "a": {"b": ["user"]}}, 200, id="literal-dotted-key-first"),
        pytest.param("a.b", {"a": {"b": ["admin"]}}, 200, id="dotted-path-when-no-literal"),
        pytest.param("a.b", {"a.b": ["user"], "a": {"b": ["admin"]}}, 403, id="literal-shadows-path"),
    ],
)
def test_keycloak_nested_roles_decide_a_role_rule(kind: str, roles_claim: Any, claims: Any, status: int) -> None:
    send = sender(kind, Policy.from_toml_string(KEYCLOAK.format(roles=roles_claim)))
    reply = send("GET", "/admin/x", bearer(keycloak_token(**claims)))
    assert reply.status == status
    if status == 200:
        assert reply.json()["subject"] == "alice"


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_nested_roles_that_are_not_strings_are_invalid_credentials(kind: str) -> None:
    send = sender(kind, Policy.from_toml_string(KEYCLOAK.format(roles="realm_access.roles")))
    reply = send("GET", "/admin/x", bearer(keycloak_token(realm_access={"roles": {"admin": True}})))
    assert reply.status == 401
    assert reply.headers["www-authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        pytest.param({"sub": "a"}, "sub", "a", id="top-level"),
        pytest.param({"a": {"id": "x"}}, "a.id", "x", id="nested"),
        pytest.param({"a": {"b": {"c": ["r"]}}}, "a.b.c", ["r"], id="deep"),
        pytest.param({"a": ["not", "object"]}, "a.0", None, id="no-index-into-lists"),
        pytest.param({"a": {"b": 1}}, "a.b.c", None, id="through-a-scalar"),
        pytest.param({"a.id": "lit", "a": {"id": "path"}}, "a.id", "lit", id="literal-wins"),
        pytest.param({}, "missing", None, id="missing"),
    ],
)
def test_lookup(data: Any, name: Any, expected: Any) -> None:
    assert lookup(data, name) == expected


@pytest.mark.parametrize(
    ("value", "split", "expected"),
    [
        pytest.param("sales admin", False, {"sales admin"}, id="string-is-one-value"),
        pytest.param("read write", True, {"read", "write"}, id="scope-is-split"),
        pytest.param("", False, set(), id="empty-string-is-none"),
        pytest.param(["a", "b"], False, {"a", "b"}, id="list"),
        pytest.param(None, False, set(), id="absent"),
    ],
)
def test_claim_strings(value: Any, split: Any, expected: Any) -> None:
    assert claim_strings(value, "c", split=split) == expected


def test_claim_map_subject_types() -> None:
    claims = ClaimMap(subject="a.id")
    assert claims.subject_of({"a": {"id": 7}}, integers=True) == "7"
    with pytest.raises(AuthenticationError):
        claims.subject_of({"a": {"id": 7}})
    with pytest.raises(AuthenticationError):
        claims.subject_of({"a": {"id": True}}, integers=True)
    assert claims.subject_of({"a": {}}) is None


@pytest.mark.parametrize("key", ["roles_claim", "subject_claim", "permissions_claim", "tenants_claim"])
@pytest.mark.parametrize("bad", ["", " roles"])
def test_bad_claim_names_are_load_errors(key: Any, bad: Any) -> None:
    text = KEYCLOAK.format(roles="roles").replace('roles_claim = "roles"', f'{key} = "{bad}"')
    text = text.replace('subject_claim = "preferred_username"\n', "") if key == "subject_claim" else text
    with pytest.raises(PolicyError, match=f"auth.bearer.{key}"):
        Policy.from_toml_string(text)
