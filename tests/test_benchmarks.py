"""The benchmark suite runs and reports every configuration issue 7 lists.

Speed itself is judged by ``benchmarks/run.py`` (its PASS/FAIL lines), never by a unit test:
timings on a shared CI machine are too noisy to assert on. This test proves the suite works
end to end in its ``--quick`` mode, including its own decision checks (every peer answers 200
to the admin credential and refuses the others before anything is timed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CONFIGURATIONS = [
    # ASGI: bare apps, routeguard, and the peers users would pick instead
    "asgi.raw",
    "asgi.starlette",
    "asgi.starlette.public",
    "asgi.routeguard.public",
    "asgi.routeguard.hs256",
    "asgi.routeguard.rs256",
    "asgi.routeguard.session",
    "asgi.starlette_auth.hs256",
    "asgi.starlette_auth.rs256",
    "asgi.fastapi",
    "asgi.fastapi.dependency.hs256",
    "asgi.routeguard.fastapi.hs256",
    "asgi.casbin.hs256",
    "asgi.starlette_session",
    # WSGI
    "wsgi.flask",
    "wsgi.flask.public",
    "wsgi.routeguard.public",
    "wsgi.routeguard.hs256",
    "wsgi.flask_before_request.hs256",
    # rule-count scaling
    *(f"match.{matcher}.{count}" for matcher in ("routeguard", "naive", "casbin") for count in (10, 100, 1000, 10000)),
]

TARGETS = [
    "matcher_scaling",
    "matcher_vs_casbin",
    "hs256_vs_starlette",
    "rs256_vs_starlette",
    "session_vs_starlette",
    "public_vs_bare",
    "wsgi_vs_bare",
]


def test_quick_run_reports_every_configuration(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--quiet", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert "Targets (issue 7)" in completed.stdout

    document = json.loads(out.read_text())
    assert document["mode"] == "quick"
    results = document["results"]
    missing = [name for name in CONFIGURATIONS if name not in results]
    assert not missing, f"configurations missing from the JSON: {missing}"
    for name in CONFIGURATIONS:
        result = results[name]
        assert result["median_ns"] > 0, name
        assert result["batches"] >= 1, name
        if result.get("base"):
            assert result["ratio_vs_base"] > 0, name
    for name, result in results.items():
        if result.get("peer"):
            assert result["speedup_vs_peer"] > 0, name

    targets = {target["id"]: target for target in document["targets"]}
    assert sorted(targets) == sorted(TARGETS)
    for target in targets.values():
        assert target["value"] > 0
        assert isinstance(target["pass"], bool)
