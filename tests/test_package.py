"""The public package: every exported name resolves, and importing it stays cheap."""

from __future__ import annotations

import subprocess
import sys

import routeguard


def test_every_exported_name_resolves() -> None:
    for name in routeguard.__all__:
        assert getattr(routeguard, name) is not None, name
    assert sorted(dir(routeguard)) == sorted(routeguard.__all__)


def test_no_exported_name_is_shadowed_by_a_submodule() -> None:
    """Loading a submodule sets it as a package attribute: it must never hide an export."""
    import pkgutil

    submodules = {m.name for m in pkgutil.iter_modules(routeguard.__path__)}
    assert submodules.isdisjoint(routeguard.__all__)
    code = "import routeguard; routeguard.alogin; print(callable(routeguard.login), type(routeguard.login).__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", "function"]


def test_unknown_names_raise_attribute_error() -> None:
    try:
        routeguard.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_import_loads_no_framework_until_a_name_is_used() -> None:
    """The pytest plugin lives in this package: every pytest run pays for ``import routeguard``."""
    code = ("import sys, routeguard; heavy = [m for m in ('starlette', 'pydantic', 'jwt', 'werkzeug') "
            "if m in sys.modules]; print(','.join(heavy))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_rg_2026_13_login_failure_helpers_are_exported() -> None:
    """The failed-login report is public API under these names (README, examples)."""
    import inspect

    assert {"login_failed", "alogin_failed"} <= set(routeguard.__all__)
    assert list(inspect.signature(routeguard.login_failed).parameters) == ["environ", "username"]
    assert list(inspect.signature(routeguard.alogin_failed).parameters) == ["scope", "username"]
    assert inspect.iscoroutinefunction(routeguard.alogin_failed)
    assert "username" in inspect.signature(routeguard.login).parameters
    assert "username" in inspect.signature(routeguard.alogin).parameters
