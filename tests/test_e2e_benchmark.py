"""``benchmarks/e2e.py`` checks every configuration's decisions over the wire before timing and
prints one row per configuration plus the issue's target lines. Timing is never asserted: the
fast tests feed the report synthetic figures; the slow ones start the real servers and run the
decision check only (``--verify-only``), or count a few requests' instructions under valgrind
(``--instructions``: counts, never times, and only that the guard's work shows in them).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import e2e
from benchmarks.instructions import dump_total

ROOT = Path(__file__).resolve().parent.parent
CREDS = e2e.Creds(admin="a.b.admin", user="a.b.user", session_admin="s.admin", session_user="s.user")
CONFIGS = e2e.build_configs(CREDS)
PORTS = {config.app: number for number, config in enumerate(CONFIGS)}


ADMIN = {"Bearer " + CREDS.admin, "session=" + CREDS.session_admin}
USER = {"Bearer " + CREDS.user, "session=" + CREDS.session_user}


def _server(forged: int = 401) -> e2e.Fetch:
    """A fake server deciding as the policy says; ``forged`` is its answer to a forged credential."""

    def fetch(port: int, path: str, headers: dict[str, str]) -> int:
        app = next(config.app for config in CONFIGS if PORTS[config.app] == port)
        credential = headers.get("Authorization", "") + headers.get("Cookie", "")
        if path == e2e.PUBLIC or app in {"starlette", "fastapi", "flask"} or credential in ADMIN:
            return 200
        if credential in USER:
            return 403
        return forged if credential else 401

    return fetch


def test_verify_accepts_the_expected_decisions() -> None:
    e2e.verify(CONFIGS, PORTS, _server())


@pytest.mark.parametrize(
    "wrong",
    [
        pytest.param(lambda port, path, headers: 200, id="allows-everything"),
        pytest.param(lambda port, path, headers: 401, id="refuses-everything"),
        pytest.param(_server(forged=403), id="forged-credential-answered-403"),
        pytest.param(_server(forged=200), id="forged-credential-allowed"),
    ],
)
def test_verify_refuses_a_wrong_decision(wrong: e2e.Fetch) -> None:
    with pytest.raises(AssertionError, match="answered"):
        e2e.verify(CONFIGS, PORTS, wrong)


def test_forge_changes_only_the_signature() -> None:
    forged = e2e.forge(CREDS.admin)
    assert forged != CREDS.admin
    assert forged.rpartition(".")[0] == CREDS.admin.rpartition(".")[0]


WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:5000/health
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms    1.00ms  20.00ms   90.00%
  Latency Distribution
     50%  812.00us
     75%    2.00ms
     90%    3.00ms
     99%    1.50s
  2345 requests in 1.00s, 300.00KB read
  Non-2xx or 3xx responses: 7
Requests/sec:   2345.50
Transfer/sec:    300.00KB
"""


def test_parse_wrk_reads_counts_and_percentiles() -> None:
    assert e2e.parse_wrk(WRK_OUTPUT) == {
        "requests": 2345.0, "rps": 2345.5, "p50": 812.0, "p99": 1_500_000.0, "non2xx": 7.0, "errors": 0.0,
    }


def test_parse_wrk_refuses_truncated_output() -> None:
    with pytest.raises(RuntimeError, match="lacks"):
        e2e.parse_wrk(WRK_OUTPUT.split("  Latency Distribution")[0])


def test_report_has_one_row_per_configuration_and_every_target() -> None:
    cost = {config.name: 100.0 + 10 * (config.base is not None) for config in CONFIGS}
    cost["gu.routeguard.hs256"] = 200.0  # 2x: fails its 1.05x target
    rounds = [{name: {"rps": 1.0, "p50": 1.0, "p99": 2.0, "cpu_us": value} for name, value in cost.items()}] * 3
    summary = e2e.summarize(CONFIGS, rounds)
    lines = e2e.render(CONFIGS, summary)
    rows = [line for line in lines if line.startswith("| ") and "`" in line]
    assert [row.split("`")[1] for row in rows] == [config.name for config in CONFIGS]
    verdicts = {t.config: summary["ratios"][t.config]["verdict"] for t in e2e.TARGETS}
    assert verdicts == {
        t.config: None if t.limit is None else ("FAIL" if t.config == "gu.routeguard.hs256" else "PASS")
        for t in e2e.TARGETS
    }
    assert sum(line.startswith(("PASS", "FAIL")) for line in lines) == sum(t.limit is not None for t in e2e.TARGETS)
    assert summary["ratios"]["gu.routeguard.hs256"]["ratio"] == pytest.approx(2.0)


@pytest.mark.slow
def test_decisions_over_the_wire_on_real_servers() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "e2e.py"), "--verify-only"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"decisions verified over the wire for {len(CONFIGS)} configurations" in done.stdout


def test_dump_total_reads_callgrind_totals() -> None:
    assert dump_total("events: Ir\nsummary: 120\nfl=x\ntotals: 123\n") == 123
    assert dump_total("events: Ir\nsummary: 120\n") == 120
    with pytest.raises(RuntimeError, match="no total"):
        dump_total("events: Ir\n")


def test_instruction_report_judges_every_target() -> None:
    counts = {config.name: 100.0 + 3 * (config.base is not None) for config in CONFIGS}
    counts["uv.routeguard.hs256"] = 130.0  # 1.30x: fails its 1.25x target
    lines = e2e.render_instructions(CONFIGS, counts, 10)
    rows = [line for line in lines if line.startswith("| ") and "`" in line]
    assert [row.split("`")[1] for row in rows] == [config.name for config in CONFIGS]
    judged = {line.split(": ")[1]: line.split(":")[0] for line in lines if line.startswith(("PASS", "FAIL"))}
    assert judged == {t.label: "FAIL" if t.config == "uv.routeguard.hs256" else "PASS"
                      for t in e2e.TARGETS if t.limit is not None}


def _counted(configs: list[e2e.E2EConfig], tmp_path: Path) -> dict[str, float]:
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        pytest.skip("valgrind is not installed")
    return e2e.count_instructions(configs, 20, tmp_path)


@pytest.mark.slow
def test_instructions_counted_on_a_real_uvicorn_server(tmp_path: Path) -> None:
    wanted = {"uv.starlette.public", "uv.routeguard.public"}
    counts = _counted([config for config in CONFIGS if config.name in wanted], tmp_path)
    assert counts.keys() == wanted
    assert counts["uv.starlette.public"] > 50_000  # a whole HTTP request through uvicorn and Starlette
    assert counts["uv.routeguard.public"] > counts["uv.starlette.public"]  # the guard's work is counted


@pytest.mark.slow
def test_instructions_counted_in_gunicorns_worker(tmp_path: Path) -> None:
    real = e2e.build_configs(e2e.make_creds())
    counts = _counted([config for config in real if config.name in {"gu.flask", "gu.routeguard.hs256"}], tmp_path)
    assert counts["gu.flask"] > 100_000  # the worker's difference, not the arbiter's idle loop
    assert counts["gu.routeguard.hs256"] > counts["gu.flask"]
