"""Each integration imports its framework lazily: importing the module costs no framework."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORKS = {
    "django": ["django"], "flask": ["flask", "flask_login"], "quart": ["quart"], "fastapi": ["fastapi"],
    "litestar": ["litestar"], "pyramid": ["pyramid"], "bottle": ["bottle"],
}


def test_importing_an_integration_imports_no_framework() -> None:
    modules = [f"routeguard.integrations.{name}" for name in FRAMEWORKS]
    code = (
        "import sys\n"
        f"for m in {modules!r}: __import__(m)\n"
        f"loaded = sorted(f for fs in {list(FRAMEWORKS.values())!r} for f in fs if f in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("name", sorted(FRAMEWORKS))
def test_every_integration_has_its_extra(name: str) -> None:
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert name in extras
    wanted = {name.replace("_", "-") for name in FRAMEWORKS[name]} - {"flask-login"}
    named = {req.split(">")[0].split("=")[0].split("[")[0].lower() for req in extras[name]}
    assert wanted <= named
    tested = {req.split(">")[0].split("=")[0].split("[")[0].lower() for req in extras["test"]}
    assert wanted <= tested
