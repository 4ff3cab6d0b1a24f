"""Issue 11 item 2: the policy model only validates; ``build(policy)`` is the one place that reads
secrets and files, imports references and opens the store, run eagerly by ``from_toml`` and by
the guards so an error needing I/O still surfaces before a request is served."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from routeguard import ASGIGuard, Policy, PolicyError, WSGIGuard
from routeguard.policy.build import build, runtime_for
from routeguard.stores import open_store


def _wsgi_app(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    return [b""]


NEEDS_IO: list[Any] = [
    pytest.param({"auth": {"bearer": {"algorithms": ["HS256"], "secret_env": "RG_PURE_UNSET"}}},
                 "auth.bearer.secret_env", id="unset-secret-variable"),
    pytest.param({"auth": {"bearer": {"algorithms": ["RS256"], "public_key_file": "/nonexistent/rg-pure.pem"}}},
                 "auth.bearer.public_key_file", id="unreadable-key-file"),
    pytest.param({"rules": [{"path": "/x", "check": "tests.no_such_module_rg:check"}]},
                 "rule #1 ('/x') check", id="bad-check-import"),
    pytest.param({"tenant_membership": "tests.custom_backends:no_such_hook"}, "tenant_membership",
                 id="bad-hook-import"),
    pytest.param({"store": {"url_env": "RG_PURE_UNSET"}}, "store.url_env", id="unset-store-variable"),
    pytest.param({"responses": {"html_template": "/nonexistent/rg-pure.html"}}, "responses.html_template",
                 id="unreadable-template"),
]


@pytest.mark.parametrize(("data", "key"), NEEDS_IO)
def test_validation_does_no_io_and_build_names_the_key(data: dict[str, Any], key: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RG_PURE_UNSET", raising=False)
    policy = Policy(**data)  # validates: no environment, file, import or store
    with pytest.raises(PolicyError) as info:
        build(policy)
    assert key in str(info.value)


@pytest.mark.parametrize(("data", "key"), NEEDS_IO)
@pytest.mark.parametrize("adapter", [pytest.param("asgi", id="asgi"), pytest.param("wsgi", id="wsgi")])
def test_a_guard_builds_before_it_serves(data: dict[str, Any], key: str, adapter: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RG_PURE_UNSET", raising=False)
    policy = Policy(**data)
    with pytest.raises(PolicyError, match=re.escape(key)):
        if adapter == "asgi":
            ASGIGuard(Starlette(), policy=policy)
        else:
            WSGIGuard(_wsgi_app, policy=policy)


def test_from_toml_builds_eagerly_and_lint_mode_does_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RG_PURE_UNSET", raising=False)
    path = tmp_path / "routeguard.toml"
    path.write_text('[auth.bearer]\nalgorithms = ["HS256"]\nsecret_env = "RG_PURE_UNSET"\n', encoding="utf-8")
    with pytest.raises(PolicyError, match=r"routeguard\.toml: auth\.bearer\.secret_env: environment variable"):
        Policy.from_toml(path)
    linted = Policy.from_toml(path, resolve_secrets=False)
    assert linted.auth.bearers[0].secret_env == "RG_PURE_UNSET"


def test_checkable_without_io_still_fails_at_construction() -> None:
    with pytest.raises(PolicyError, match=r"auth\.identity_loader: 'no-colon' must look like"):
        Policy(auth={"identity_loader": "no-colon"})
    with pytest.raises(PolicyError, match="give exactly one key source"):
        Policy(auth={"bearer": {"algorithms": ["HS256"]}})


def test_relative_paths_are_resolved_at_validation_and_read_at_build(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text("<h1>{status} {title}</h1>", encoding="utf-8")
    path = tmp_path / "routeguard.toml"
    path.write_text('[responses]\nhtml_template = "page.html"\n', encoding="utf-8")
    policy = Policy.from_toml(path, resolve_secrets=False)
    assert policy.responses.html_template == tmp_path / "page.html"
    (tmp_path / "page.html").write_text("<h1>{nope}</h1>", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"responses\.html_template: unknown placeholder '\{nope\}'"):
        build(policy)


def test_one_runtime_per_policy_object_and_none_held_by_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RG_PURE_STORE", "memory://")
    policy = Policy(store={"url_env": "RG_PURE_STORE"})
    assert set(Policy.__private_attributes__) == {"_compiled", "_sources"}  # the rules (compiled, as given); no runtime
    runtime = runtime_for(policy)
    assert runtime_for(policy) is runtime  # the load's build is the guard's
    assert runtime_for(policy.model_copy()) is not runtime
    assert build(policy) is not runtime and runtime.rules is policy.compiled_rules
    assert type(runtime.store) is type(open_store("memory://"))
