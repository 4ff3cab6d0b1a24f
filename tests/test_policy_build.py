"""What a policy builds (issue 11 item 2, in part): one compiled-rule tuple for tools and guard,
ownership checks imported once into the runtime."""

from __future__ import annotations

from routeguard import Policy
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
