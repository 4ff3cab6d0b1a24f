"""API keys, custom backends (sync and async) and the identity loader, on both adapters."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from routeguard import Identity, Policy, PolicyError, hash_key, new_key
from routeguard.policy.build import runtime_for
from routeguard.runtime.guard import Guard

from . import custom_backends
from .support import bearer, sender, token

KEY, DIGEST = new_key()
KEY_2 = "rg_second-key-0123456789abcdefghijklmnopqrstuvwxyz"

RULES = """
[[rules]]
path = "/public"
access = "public"
[[rules]]
path = "/admin/**"
roles = ["admin"]
[[rules]]
path = "/orgs/{org}/**"
tenant = "org"
[[rules]]
path = "/api/**"
"""


@pytest.fixture(params=["asgi", "wsgi"])
def kind(request: Any) -> Any:
    return request.param


def api_key_policy(tmp_path: Any) -> Policy:
    keys_file = tmp_path / "keys.toml"
    keys_file.write_text(f'[[keys]]\nhash = "{hash_key(KEY_2)}"\nsubject = "ci-bot"\nroles = ["admin"]\n')
    return Policy.from_toml_string(f"""
[auth.api_key]
header = "X-API-Key"
keys_file = "keys.toml"
[[auth.api_key.keys]]
hash = "{DIGEST}"
subject = "reporter"
roles = ["user"]
tenants = ["acme"]
{RULES}""", base_dir=tmp_path)


def test_api_keys(kind: str, tmp_path: Path) -> None:
    send = sender(kind, api_key_policy(tmp_path))
    assert send("GET", "/api/items", {"X-API-Key": KEY}).json()["subject"] == "reporter"
    assert send("GET", "/orgs/acme/x", {"X-API-Key": KEY}).status == 200
    assert send("GET", "/orgs/globex/x", {"X-API-Key": KEY}).status == 403
    assert send("GET", "/admin/x", {"X-API-Key": KEY}).status == 403
    assert send("GET", "/admin/x", {"X-API-Key": KEY_2}).json()["subject"] == "ci-bot"
    wrong = send("GET", "/api/items", {"X-API-Key": KEY + "x"})
    assert wrong.status == 401 and "invalid_token" in wrong.headers["www-authenticate"]
    assert send("GET", "/api/items", {"X-API-Key": "x" * 600}).status == 401
    assert send("GET", "/api/items").status == 401
    assert send("GET", "/public", {"X-API-Key": "wrong"}).status != 401


def test_api_keys_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import hmac

    calls = []
    real = hmac.compare_digest

    def counting(a: Any, b: Any) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    backend = runtime_for(api_key_policy(tmp_path)).backends[0]
    from routeguard import RequestView

    backend.authenticate(RequestView(method="GET", path="/", headers={"x-api-key": KEY}))
    assert len(calls) == 2  # every stored digest is compared, the match does not stop the loop


@pytest.mark.parametrize(("entry", "message"), [
    ('hash = "md5:abc"\nsubject = "x"', "sha256"),
    ('hash = "sha256:zz"\nsubject = "x"', "sha256"),
    ('hash = "' + hash_key("k") + '"', "subject"),
    ('hash = "' + hash_key("k") + '"\nsubject = "x"\nrole = ["a"]', "unknown key 'role'"),
])
def test_api_key_load_errors(entry: Any, message: Any) -> None:
    with pytest.raises(PolicyError, match=message):
        Policy.from_toml_string(f"[auth.api_key]\n[[auth.api_key.keys]]\n{entry}\n")


def test_keys_file_errors(tmp_path: Path) -> None:
    (tmp_path / "k.toml").write_text('[[keys]]\nhash = "sha256:00"\nsubject = "x"\n')
    with pytest.raises(PolicyError, match="keys_file"):
        Policy.from_toml_string('[auth.api_key]\nkeys_file = "k.toml"\n', base_dir=tmp_path)
    with pytest.raises(PolicyError, match="cannot read"):
        Policy.from_toml_string('[auth.api_key]\nkeys_file = "missing.toml"\n', base_dir=tmp_path)


def custom_policy(*refs: str, loader: str | None = None, ttl: float = 30) -> Policy:
    custom = ", ".join(f'"tests.custom_backends:{r}"' for r in refs)
    loader_line = f'identity_loader = "tests.custom_backends:{loader}"\nidentity_cache_ttl = {ttl}\n' if loader else ""
    return Policy.from_toml_string(f"""
[auth]
custom = [{custom}]
{loader_line}
[auth.bearer]
algorithms = ["HS256"]
secret_env = "RG_TEST_JWT_SECRET"
audience = "tests"
{RULES}""")


def test_custom_sync_async_and_function_backends(kind: str) -> None:
    send = sender(kind, custom_policy("HeaderBackend", "AsyncBackend", "function_backend"))
    assert send("GET", "/admin/x", {"X-Demo-User": "root:sig-root"}).json()["subject"] == "root"
    assert send("GET", "/admin/x", {"X-Demo-User": "alice:sig-alice"}).status == 403
    bad = send("GET", "/api/x", {"X-Demo-User": "root:forged"})
    assert bad.status == 401 and "invalid_token" in bad.headers["www-authenticate"]
    assert send("GET", "/api/x", {"X-Async-Token": "good"}).json()["subject"] == "async-user"
    assert send("GET", "/api/x", {"X-Async-Token": "bad"}).status == 401
    assert send("GET", "/api/x", {"X-Async-Token": "crash"}).status == 401  # an exception refuses
    assert send("GET", "/api/x", {"X-Fn": "yes"}).json()["subject"] == "fn-user"
    assert send("GET", "/api/x", bearer(token("alice"))).json()["subject"] == "alice"  # falls through to bearer


def test_backend_order_first_finding_credentials_decides(kind: str) -> None:
    # The custom backend comes first: its invalid credential is never skipped for a valid bearer token.
    send = sender(kind, custom_policy("HeaderBackend"))
    reply = send("GET", "/api/x", {"X-Demo-User": "root:forged", **bearer(token("alice"))})
    assert reply.status == 401


def test_python_custom_backend_objects() -> None:
    identity = Identity.of("py-user", roles=["admin"])

    class Inline:
        name = "inline"

        def authenticate(self, request: Any) -> Any:
            return identity if request.headers.get("x-inline") else None

    policy = Policy(rules=[{"path": "/admin/**", "roles": ["admin"]}], auth={"custom": [Inline()]})
    send = sender("asgi", policy)
    assert send("GET", "/admin/x", {"X-Inline": "1"}).json()["subject"] == "py-user"
    assert send("GET", "/admin/x").status == 401


@pytest.mark.parametrize("ref", ["tests.custom_backends:Missing", "no_such_module:x", "not-a-ref"])
def test_custom_backend_import_errors(ref: Any) -> None:
    with pytest.raises(PolicyError, match=r"auth\.custom"):
        Policy.from_toml_string(f'[auth]\ncustom = ["{ref}"]\n')


@pytest.mark.parametrize("loader", ["load_user", "aload_user"])
def test_identity_loader_replaces_stale_claims(kind: str, loader: Any) -> None:
    custom_backends.CALLS.clear()
    policy = custom_policy(loader=loader, ttl=30)
    send = sender(kind, policy)
    stale_admin = bearer(token("alice", roles=("admin",)))  # the token still says admin
    assert send("GET", "/admin/x", stale_admin).status == 403  # the loader says user
    assert send("GET", "/api/x", stale_admin).status == 200
    assert send("GET", "/orgs/acme/x", stale_admin).status == 200
    assert custom_backends.CALLS == ["alice"]  # cached: one call for three requests
    deleted = send("GET", "/api/x", bearer(token("mallory")))
    assert deleted.status == 401 and "invalid_token" in deleted.headers["www-authenticate"]


def test_role_revoked_at_the_source_is_refused_after_the_ttl(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = custom_policy(loader="load_user", ttl=0.2)
    send = sender(kind, policy)
    root = bearer(token("root", roles=("admin",)))
    assert send("GET", "/admin/x", root).status == 200
    monkeypatch.setitem(custom_backends.USERS, "root", {"roles": ["user"]})
    time.sleep(0.25)
    assert send("GET", "/admin/x", root).status == 403
    monkeypatch.setitem(custom_backends.USERS, "root", {"roles": ["admin"], "disabled": True})
    Guard.for_policy(policy).forget_user("root")
    assert send("GET", "/api/x", root).status == 401


def test_loader_failure_is_503_not_allow(kind: str) -> None:
    send = sender(kind, custom_policy(loader="broken_loader"))
    reply = send("GET", "/api/x", bearer(token("alice")))
    assert reply.status == 503
    assert send("GET", "/public", bearer(token("alice"))).status != 503
