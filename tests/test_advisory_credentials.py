"""Named regression tests for the credentials work (issue 10 item 8).

RG-2026-19  Single-string ``roles``/``tenants`` claims were split on spaces: ``roles: "sales
            admin"`` granted ``admin``. Only the permissions (OAuth2 ``scope``) claim is
            space-separated, at any depth.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from routeguard import Policy

from .support import JWT_SECRET, POLICY_TOML, bearer, cookie, sender, token


def raw_token(**claims: object) -> str:
    payload = {"sub": "alice", "aud": "tests", "exp": int(time.time()) + 300, **claims}
    return jwt.encode(payload, JWT_SECRET, algorithm="HS256")


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
@pytest.mark.parametrize(
    ("path", "claims", "status"),
    [
        pytest.param("/admin/x", {"roles": "sales admin"}, 403, id="roles-string-not-split"),
        pytest.param("/admin/x", {"roles": "admin"}, 200, id="roles-single-string"),
        pytest.param("/orgs/globex/x", {"tenants": "acme globex"}, 403, id="tenants-string-not-split"),
        pytest.param("/orgs/acme/x", {"tenants": "acme"}, 200, id="tenants-single-string"),
        pytest.param("/reports/x", {"scope": "profile reports:read"}, 200, id="scope-string-is-split"),
    ],
)
def test_rg_2026_19_single_string_claims_are_one_value_in_tokens(
    kind: str, path: Any, claims: Any, status: int
) -> None:
    send = sender(kind, Policy.from_toml_string(POLICY_TOML))
    assert send("GET", path, bearer(raw_token(**claims))).status == status


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
@pytest.mark.parametrize(
    ("path", "session", "status"),
    [
        pytest.param("/admin/x", {"roles": "sales admin"}, 403, id="roles-string-not-split"),
        pytest.param("/orgs/globex/x", {"tenants": "acme globex"}, 403, id="tenants-string-not-split"),
        pytest.param("/reports/x", {"permissions": "profile reports:read"}, 200, id="permissions-split"),
    ],
)
def test_rg_2026_19_single_string_claims_are_one_value_in_session_cookies(
    kind: str, path: Any, session: Any, status: int
) -> None:
    send = sender(kind, Policy.from_toml_string(POLICY_TOML))
    assert send("GET", path, cookie({"user_id": "alice", **session})).status == status


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_rg_2026_19_nested_single_string_roles_are_not_split(kind: str) -> None:
    text = POLICY_TOML.replace('audience = "tests"', 'audience = "tests"\nroles_claim = "realm_access.roles"')
    send = sender(kind, Policy.from_toml_string(text))
    tok = token("alice", roles=(), realm_access={"roles": "sales admin"})
    assert send("GET", "/admin/x", bearer(tok)).status == 403
    tok = token("alice", roles=(), realm_access={"roles": "admin"})
    assert send("GET", "/admin/x", bearer(tok)).status == 200
