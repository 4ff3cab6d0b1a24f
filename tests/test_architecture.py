"""The layering of ARCHITECTURE.md, enforced: import-linter contracts from pyproject.toml."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("importlinter.cli")  # configures import-linter's adapters on import
    from importlinter.application import use_cases

    monkeypatch.chdir(ROOT)
    # use_cases, not cli.lint_imports: the latter runs logging.config.dictConfig, which disables
    # every existing logger (routeguard's included) for the rest of the test session.
    kept = use_cases.lint_imports(config_filename=os.fspath(ROOT / "pyproject.toml"), cache_dir=None, no_logo=True)
    report = capsys.readouterr().out
    assert kept, report
    assert "0 broken" in report


def test_core_really_imports_no_framework_or_pydantic() -> None:
    """Beyond the named frameworks: the core imports only itself, errors.py and the stdlib."""
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("routeguard", include_external_packages=True)
    core = {m for m in graph.modules if m.startswith("routeguard.core")}
    assert "routeguard.core.engine" in core
    imported = {dep for module in core for dep in graph.find_modules_directly_imported_by(module)}
    assert "routeguard.errors" in imported  # the graph does see the core's imports
    outside = {dep for dep in imported if not dep.startswith(("routeguard.core", "routeguard.errors"))}
    assert {dep for dep in outside if dep.split(".")[0] not in sys.stdlib_module_names} == set()


def test_toml_is_parsed_in_one_module() -> None:
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("routeguard", include_external_packages=True)
    assert graph.find_modules_that_directly_import("tomllib") == {"routeguard.policy.toml"}


def test_a_keys_file_that_is_not_toml_names_its_key(tmp_path: Path) -> None:
    from routeguard import Policy, PolicyError
    from routeguard.policy.build import build

    keys = tmp_path / "keys.toml"
    keys.write_text("keys = [", encoding="utf-8")
    policy = Policy(auth={"api_key": {"keys_file": str(keys)}})  # validation reads no file
    with pytest.raises(PolicyError, match=r"auth\.api_key\.keys_file: not valid TOML"):
        build(policy)
