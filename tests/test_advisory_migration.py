"""Advisory regression tests for the migration tools (issue 10 item 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_migration_init import COLLIDE, init_policy


@pytest.mark.parametrize(
    ("path", "access"),
    [
        pytest.param("/login", "public", id="login-url"),
        pytest.param("/health", "public", id="health-probe"),
        pytest.param("/admin/token", "authenticated", id="admin-token"),
        pytest.param("/api/logout", "authenticated", id="api-logout"),
        pytest.param("/api/login", "authenticated", id="login-name-elsewhere"),
    ],
)
def test_rg_2026_23_init_only_exact_well_known_paths_start_public(tmp_path: Path, path: str, access: str) -> None:
    _, policy = init_policy(tmp_path, COLLIDE)
    rule = next(r for r in policy.rules if r.path == path)
    assert (rule.access or "authenticated") == access
    assert policy.login_url == "/login"
