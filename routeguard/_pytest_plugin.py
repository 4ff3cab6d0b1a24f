"""The pytest plugin behind the ``routeguard`` entry point.

Every pytest run of a project that installs routeguard imports this module, so it imports
nothing heavy: the policy model and the helpers load when a ``routeguard_*`` fixture is used.

It only adds an ini key and three fixtures, all prefixed ``routeguard_``, so it cannot clash
with a project's own fixtures; nothing runs unless a test asks for one of them.

    # pytest.ini / pyproject [tool.pytest.ini_options]
    routeguard_policy = "routeguard.toml"

    def test_matrix(routeguard_assert_access):
        routeguard_assert_access(app, {("GET", "/admin"): {"anonymous": 401, "user": 403, "admin": 200}})
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .policy.model import Policy
    from .testing.access import Credentials

INI_KEY = "routeguard_policy"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``routeguard_policy`` ini key."""
    parser.addini(INI_KEY, "path of the routeguard policy (TOML) used by the routeguard_* fixtures", default="")


@pytest.fixture
def routeguard_policy(request: pytest.FixtureRequest) -> Policy:
    """The policy named by the ``routeguard_policy`` ini key (relative to the rootdir).
    Override this fixture to build the policy another way."""
    value = str(request.config.getini(INI_KEY) or "")
    if not value:
        pytest.fail(f"set `{INI_KEY} = path/to/routeguard.toml` in the pytest configuration, "
                    "or override the routeguard_policy fixture", pytrace=False)
    from .policy.model import Policy

    path = Path(value)
    if not path.is_absolute():
        path = request.config.rootpath / path
    return Policy.from_toml(path)


@pytest.fixture
def routeguard_credentials(routeguard_policy: Policy) -> Credentials:
    """Mint headers for the policy: ``routeguard_credentials("alice", roles=["admin"])``."""
    from .testing.access import Credentials

    return Credentials(routeguard_policy)


@pytest.fixture
def routeguard_assert_access(routeguard_policy: Policy) -> Callable[..., None]:
    """:func:`routeguard.testing.assert_access` bound to the policy."""
    from .testing.access import assert_access

    bound: Callable[..., Any] = functools.partial(assert_access, policy=routeguard_policy)
    return bound
