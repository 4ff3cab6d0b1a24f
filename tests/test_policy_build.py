"""What a policy builds (issue 11 item 2, in part): one compiled-rule tuple for tools and guard,
ownership checks imported once into the runtime."""

from __future__ import annotations

from typing import Any

import pytest

from routeguard import Policy, PolicyError
from routeguard.runtime.guard import Guard

from . import custom_backends

POLICY = """
[auth.bearer]
algorithms = ["HS256"]
secret_env = "RG_TEST_JWT_SECRET"
audience = "tests"

[[rules]]
path = "/health"
access = "public"

[[rules]]
path = "/docs/{doc_id}"
check = "tests.custom_backends:owns_document"

[[rules]]
path = "/**"
"""


def test_guard_and_tools_share_one_compiled_rule_tuple() -> None:
    policy = Policy.from_toml_string(POLICY)
    guard = Guard.for_policy(policy)
    assert all(a is b for a, b in zip(guard.engine.matcher.rules, policy.compiled_rules, strict=True))
    assert [rule.check_name for rule in policy.compiled_rules] == [None, "tests.custom_backends:owns_document", None]


def test_checks_are_imported_into_the_runtime_only() -> None:
    lint_only = Policy.from_toml_string(POLICY, resolve_secrets=False)  # as `routeguard check` loads it
    assert lint_only.compiled_rules[1].check_name == "tests.custom_backends:owns_document"
    runtime = Policy.from_toml_string(POLICY).runtime()
    assert dict(runtime.checks) == {1: custom_backends.owns_document}


def test_the_guard_cache_lives_outside_the_policy_and_lets_it_go() -> None:
    import gc
    import weakref

    from routeguard.runtime import guard as guard_module

    assert "_runtime" not in Policy.__private_attributes__  # the frozen model holds no guard
    policy = Policy.from_toml_string(POLICY)
    guard = Guard.for_policy(policy)
    assert Guard.for_policy(policy) is guard  # one guard per policy object, for every adapter
    assert Guard.for_policy(policy.model_copy()) is not guard  # a copy is another policy (RG-2026-08)
    held = len(guard_module._GUARDS)
    collected = weakref.ref(guard)
    del policy, guard
    gc.collect()
    assert collected() is None and len(guard_module._GUARDS) < held  # no policy kept alive


@pytest.mark.parametrize(("data", "key"), [
    pytest.param({"rules": [{"path": "/x", "check": "no-colon"}]}, "check", id="rule-check"),
    pytest.param({"tenant_membership": "no-colon"}, "tenant_membership", id="tenant-membership"),
    pytest.param({"on_decision": "no-colon"}, "on_decision", id="on-decision"),
    pytest.param({"auth": {"identity_loader": "no-colon"}}, "auth.identity_loader", id="identity-loader"),
])
def test_every_reference_is_checked_by_one_rule_with_one_message(data: dict[str, Any], key: str) -> None:
    with pytest.raises(PolicyError) as info:
        Policy(**data)
    message = str(info.value)
    assert key in message and "'no-colon' must look like 'package.module:function'" in message


@pytest.mark.parametrize("data", [
    pytest.param({"rules": [{"path": "/x", "check": 42}]}, id="rule-check"),
    pytest.param({"tenant_membership": 42}, id="tenant-membership"),
])
def test_a_reference_that_is_neither_text_nor_callable_is_refused(data: dict[str, Any]) -> None:
    with pytest.raises(PolicyError, match=r"must be a 'package\.module:function' reference or a callable"):
        Policy(**data)
