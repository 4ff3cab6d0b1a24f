"""Start-up cost (issue 16): ``import routeguard.asgi`` and ``routeguard check`` on a small policy,
each against ``import starlette.applications``, in fresh interpreters.

Each case runs in its own ``python -c`` process; the figure is the child's CPU time (user +
system, from ``os.wait4``), so a busy machine slows the wall clock but barely the CPU time.
The cases run in shuffled, interleaved rounds and each keeps its best round: start-up work is
deterministic, and the minimum is the run the other processes disturbed least. The ratio is
best / best, against the 1.5x target.

``routeguard check`` runs as the console script runs it (``routeguard.cli.run``), which freezes
the objects alive before the process exits so that CPython's last collection skips them. The
references (Starlette frozen the same way, the pydantic floor, the policy model alone) end the
same way, so the ratios between them compare like with like:

    python benchmarks/imports.py                 # 15 rounds
    python benchmarks/imports.py --rounds 30 --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
from pathlib import Path

LIMIT = 1.5
BASELINE = "import starlette.applications"
FROZEN = "starlette, frozen at exit"
FLOOR = "pydantic floor (one model)"
MODEL = "policy model only (validate)"
CHECK = "routeguard check"
#: How the references end, as ``routeguard check`` does: the objects frozen, so that CPython's
#: last collection at shutdown skips them.
EXIT = "\nimport gc\ngc.freeze()"

#: A small policy as ``routeguard init`` would write one: a login page, a bearer backend, roles.
POLICY = """\
login_url = "/login"

[auth.bearer]
algorithms = ["HS256"]
secret_env = "APP_JWT_SECRET"

[[rules]]
path = "/login"
access = "public"

[[rules]]
path = "/health"
methods = ["GET"]
access = "public"

[[rules]]
path = "/admin/**"
roles = ["admin"]

[[rules]]
path = "/orgs/{org_id}/**"
tenant = "org_id"

[[rules]]
path = "/**"
"""


def cases(policy: Path) -> dict[str, str]:
    """Case name -> the ``python -c`` code it runs (the baseline first)."""
    return {
        BASELINE: "import starlette.applications",
        # the baseline ended as the `routeguard` console script ends (see `routeguard.cli.run`):
        # what the same exit would take off Starlette's import, for a like-for-like ratio
        FROZEN: "import starlette.applications" + EXIT,
        "python (no import)": "pass",
        "import routeguard.asgi": "import routeguard.asgi",
        "import routeguard.wsgi": "import routeguard.wsgi",
        # the least a policy validated by pydantic costs: pydantic, its plugin lookup
        # (importlib.metadata) and one one-field model, built and used once
        FLOOR: "from pydantic import BaseModel\nclass M(BaseModel):\n    x: int = 0\nM(x=1)" + EXIT,
        # what `check` cannot skip: the public policy model (its pydantic classes) validating the
        # policy, without the CLI or the linter
        MODEL: (
            "from routeguard.policy.model import Policy\n"
            f"Policy.from_toml({str(policy)!r}, resolve_secrets=False)" + EXIT
        ),
        # what the `routeguard` console script runs (its output goes to /dev/null)
        CHECK: (
            f"import sys\nsys.argv = ['routeguard', 'check', {str(policy)!r}]\n"
            "from routeguard.cli import run\nrun()"
        ),
    }


def cpu_seconds(code: str, env: dict[str, str] | None = None) -> float:
    """CPU time (user + system) of one fresh interpreter running ``code``."""
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=env)
    assert process.stderr is not None
    error = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{code!r} failed ({process.returncode}):\n{error.decode(errors='replace')}")
    return usage.ru_utime + usage.ru_stime


def bytecode_env(cache: Path) -> dict[str, str]:
    """The environment with every module's bytecode kept in ``cache``, as an installed package
    has it (pip compiles on install). Without this a source checkout run with
    ``PYTHONDONTWRITEBYTECODE`` would compile routeguard on every start and Starlette never."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def measure(codes: dict[str, str], rounds: int, env: dict[str, str] | None = None, seed: int = 0,
            ) -> dict[str, list[float]]:
    """Every case once per round, in a new shuffled order each round."""
    times: dict[str, list[float]] = {name: [] for name in codes}
    order = list(codes)
    rng = random.Random(seed)
    for name in order:  # writes the bytecode and warms the file system cache; not kept
        cpu_seconds(codes[name], env)
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            times[name].append(cpu_seconds(codes[name], env))
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        policy = Path(tmp) / "routeguard.toml"
        policy.write_text(POLICY)
        times = measure(cases(policy), args.rounds, bytecode_env(Path(tmp) / "pycache"))

    best = {name: min(values) for name, values in times.items()}
    print(f"{platform.python_implementation()} {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; best of {args.rounds} rounds, CPU ms")
    print(f"{'case':32} {'best':>7} {'median':>7} {'vs starlette':>13}")
    for name, values in times.items():
        median = sorted(values)[len(values) // 2]
        print(f"{name:32} {best[name] * 1000:7.1f} {median * 1000:7.1f} {best[name] / best[BASELINE]:12.2f}x")
    failed = False
    for name in ("import routeguard.asgi", CHECK):
        ratio = best[name] / best[BASELINE]
        verdict = "PASS" if ratio <= LIMIT else "FAIL"
        failed |= verdict == "FAIL"
        print(f"{verdict}: {name}: {ratio:.2f}x of `{BASELINE}` (target <= {LIMIT}x)")
    print(f"     reference: {CHECK}: {best[CHECK] / best[FROZEN]:.2f}x of {FROZEN}")
    print(f"     reference: {FLOOR}: {best[FLOOR] / best[FROZEN]:.2f}x of {FROZEN}; {CHECK} adds "
          f"{(best[CHECK] - best[FLOOR]) * 1000:.1f} ms to it")
    print(f"     reference: {MODEL}: {best[MODEL] / best[FROZEN]:.2f}x of {FROZEN}; {CHECK} adds "
          f"{(best[CHECK] - best[MODEL]) * 1000:.1f} ms to it (the CLI and the linter)")
    if args.json:
        print(json.dumps({"best_ms": {k: round(v * 1000, 2) for k, v in best.items()},
                          "ratios": {k: round(best[k] / best[BASELINE], 3) for k in best}}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
