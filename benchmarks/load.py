"""Loading at scale: ``Policy.from_toml`` with 10,000 and 100,000 rules (issue 16 target: 100,000
under 5 s and 100 MiB).

    python benchmarks/load.py            # 10,000 and 100,000 rules
    python benchmarks/load.py 1000 5000  # other counts

Each count runs in a fresh interpreter; it reports the process CPU time (robust on a busy
machine), the wall time and the peak memory the load allocates (``tracemalloc`` in a second,
separate run, as tracing slows the first).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

TARGET_SECONDS, TARGET_MIB = 5.0, 100.0

_CHILD = """
import sys, time, tracemalloc
from routeguard import Policy
path, trace = sys.argv[1], sys.argv[2] == "1"
if trace:
    tracemalloc.start()
cpu, wall = time.process_time(), time.perf_counter()
Policy.from_toml(path, resolve_secrets=False)
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace else 0.0
print(cpu, wall, peak)
"""


def policy_text(count: int) -> str:
    """``count`` rules: a third public, the rest role rules over 50 roles, each with a capture."""
    lines = ['login_url = "/login"', "[[rules]]", 'path = "/login"', 'access = "public"']
    for i in range(count):
        lines += ["[[rules]]", f'path = "/svc{i}/items/{{item}}/detail"']
        lines.append('access = "public"' if i % 3 == 0 else f'roles = ["role{i % 50}"]')
    return "\n".join(lines) + "\n"


def measure(count: int) -> tuple[float, float, float]:
    """(CPU s, wall s, peak MiB) of loading ``count`` rules."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "policy.toml"
        path.write_text(policy_text(count))
        runs = [subprocess.run([sys.executable, "-c", _CHILD, str(path), trace], capture_output=True, text=True,
                               check=True).stdout.split() for trace in ("0", "1")]
    return float(runs[0][0]), float(runs[0][1]), float(runs[1][2])


def main() -> None:
    counts = [int(arg) for arg in sys.argv[1:]] or [10_000, 100_000]
    for count in counts:
        cpu, wall, peak = measure(count)
        verdict = "PASS" if cpu <= TARGET_SECONDS and peak <= TARGET_MIB else "FAIL"
        if count != 100_000:
            verdict = "    "
        print(f"{verdict} {count:>7} rules: {cpu:.2f} s CPU ({wall:.2f} s wall), peak {peak:.0f} MiB allocated")


if __name__ == "__main__":
    main()
