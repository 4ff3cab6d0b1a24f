"""The own-router app guarded in report mode, for real servers: the policy file comes from
RG_TEST_MIGRATION_POLICY (it names the decision log)."""

from __future__ import annotations

import os
from typing import Any

from routeguard import ASGIGuard, Policy, WSGIGuard
from tests.migration_apps.own_router import asgi_app, wsgi_app


def asgi() -> Any:
    return ASGIGuard(asgi_app, policy=Policy.from_toml(os.environ["RG_TEST_MIGRATION_POLICY"]))


def wsgi() -> Any:
    return WSGIGuard(wsgi_app, policy=Policy.from_toml(os.environ["RG_TEST_MIGRATION_POLICY"]))
