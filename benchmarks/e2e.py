"""routeguard over real servers: server CPU per request next to the bare apps, driven by wrk.

    python benchmarks/e2e.py                 # full run (about 4 minutes)
    python benchmarks/e2e.py --quick         # 2 short rounds
    python benchmarks/e2e.py --verify-only   # start the servers, check the decisions, stop
    python benchmarks/e2e.py --json out.json # also write the results as JSON
    python benchmarks/e2e.py --instructions  # server instructions per request (valgrind), no wrk

Every app of :mod:`benchmarks.e2e_serve` runs in its own server on 127.0.0.1 (uvicorn with
httptools for Starlette/FastAPI, gunicorn's sync worker for Flask; one worker each). Before
anything is timed, each configuration's decisions are checked over the wire: the admin
credential gets 200, a credential without the role 403, a forged one 401. Then the
configurations are driven by wrk (the C load generator; Debian package ``wrk``, installed by
``benchmarks/setup.sh``) in shuffled, interleaved rounds, with the server pinned to one core and
wrk to another where the machine has two. The stable figure is the server's own CPU time per
request (``/proc/<pid>/task/*/schedstat``, children included, read around each wrk run), so a
busy machine slows the run without skewing the ratios much; req/s and the latency percentiles
are printed too, as medians over the rounds. The issue's target ratios end the report as
PASS/FAIL; each ratio is the median of per-round ratios (guarded vs bare in the same round),
with the spread (min-max) beside it.

CPU time moves with the machine (other tenants, caches, frequency), so ``--instructions`` adds the
figure that does not: each server runs under valgrind's callgrind with counting off; after its
decisions are checked and 200 warm-up requests are served, counting is switched on for exactly
``--requests`` requests over one keep-alive connection and the server's instructions per
request are read from the dump. gunicorn serves from a forked worker that ``callgrind_control``
cannot reach: its whole life is counted twice, with and without the requests, and the
difference taken. The same targets are printed against these counts.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make "benchmarks" importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from .e2e_serve import APPS as APP_SERVERS  # after the sys.path set-up above
from .instructions import dump_total

ROOT = Path(__file__).resolve().parent.parent
PROTECTED = "/admin/reports/42"
PUBLIC = "/health"

Headers = dict[str, str]
Check = tuple[str, Headers, frozenset[int]]  # path, headers, accepted statuses


@dataclass(frozen=True)
class E2EConfig:
    """One measured configuration: which server, which request, what it is compared with."""

    name: str
    label: str
    app: str  # a key of e2e_serve.APPS
    path: str
    headers: Headers
    base: str | None = None
    checks: tuple[Check, ...] = ()


@dataclass(frozen=True)
class Target:
    label: str
    config: str
    base: str
    limit: float | None  # None: a reference ratio, printed without PASS/FAIL


TARGETS = (
    Target("uvicorn+Starlette, public route", "uv.routeguard.public", "uv.starlette.public", 1.15),
    Target("uvicorn+Starlette, repeated bearer token, role rule", "uv.routeguard.hs256", "uv.starlette", 1.25),
    Target("uvicorn+Starlette, session cookie, role rule", "uv.routeguard.session", "uv.starlette.cookie", 1.25),
    Target("uvicorn+FastAPI, bearer token, role rule", "uv.routeguard.fastapi.hs256", "uv.fastapi", 1.15),
    Target("gunicorn+Flask, bearer token, role rule", "gu.routeguard.hs256", "gu.flask", 1.05),
    Target("reference: minimal guard, public route", "uv.floor.public", "uv.starlette.public", None),
    Target("reference: minimal guard, bearer token", "uv.floor.hs256", "uv.starlette", None),
    Target("reference: minimal guard on Flask, bearer token", "gu.floor.hs256", "gu.flask", None),
    Target("reference: Starlette AuthenticationMiddleware+pyjwt", "uv.starlette_auth.hs256", "uv.starlette", None),
)


@dataclass(frozen=True)
class Creds:
    admin: str
    user: str
    session_admin: str
    session_user: str


def make_creds() -> Creds:
    import jwt

    from .configs import JWT_SECRET, _claims, _starlette_session_cookie

    return Creds(
        admin=jwt.encode(_claims(["admin"]), JWT_SECRET, algorithm="HS256"),
        user=jwt.encode(_claims(["user"]), JWT_SECRET, algorithm="HS256"),
        session_admin=_starlette_session_cookie(["admin"]),
        session_user=_starlette_session_cookie(["user"]),
    )


def forge(signed: str) -> str:
    """``signed`` with one character of its signature changed."""
    head, _, signature = signed.rpartition(".")
    middle = len(signature) // 2
    swapped = "B" if signature[middle] == "A" else "A"
    return f"{head}.{signature[:middle]}{swapped}{signature[middle + 1:]}"


def build_configs(creds: Creds) -> list[E2EConfig]:
    """Every configuration, in table order."""
    ok = frozenset({200})

    def bearer(token: str) -> Headers:
        return {"Authorization": "Bearer " + token}

    def cookie(value: str) -> Headers:
        return {"Cookie": "session=" + value}

    def token_checks(refused_without: frozenset[int] = frozenset({401})) -> tuple[Check, ...]:
        return (
            (PROTECTED, bearer(creds.admin), ok),
            (PROTECTED, bearer(creds.user), frozenset({403})),
            (PROTECTED, {}, refused_without),
            (PROTECTED, bearer(forge(creds.admin)), frozenset({401})),
        )

    public_checks: tuple[Check, ...] = ((PUBLIC, {}, ok), (PUBLIC, bearer("junk"), ok))
    session_checks: tuple[Check, ...] = (
        (PROTECTED, cookie(creds.session_admin), ok),
        (PROTECTED, cookie(creds.session_user), frozenset({403})),
        (PROTECTED, cookie(forge(creds.session_admin)), frozenset({401})),
    )
    tok = bearer(creds.admin)
    return [
        E2EConfig("uv.starlette.public", "bare Starlette, /health", "starlette", PUBLIC, {}),
        E2EConfig("uv.starlette", "bare Starlette, /admin (token ignored)", "starlette", PROTECTED, tok),
        E2EConfig("uv.starlette.cookie", "bare Starlette, /admin (cookie ignored)", "starlette", PROTECTED,
                  cookie(creds.session_admin)),
        E2EConfig("uv.routeguard.public", "routeguard, public route", "routeguard", PUBLIC, {},
                  "uv.starlette.public", public_checks),
        E2EConfig("uv.routeguard.hs256", "routeguard, HS256 token, role rule", "routeguard", PROTECTED, tok,
                  "uv.starlette", token_checks()),
        E2EConfig("uv.routeguard.session", "routeguard, session cookie, role rule", "routeguard", PROTECTED,
                  cookie(creds.session_admin), "uv.starlette.cookie", session_checks),
        E2EConfig("uv.floor.public", "minimal guard, public route", "floor", PUBLIC, {},
                  "uv.starlette.public", public_checks[:1]),
        E2EConfig("uv.floor.hs256", "minimal guard, HS256 token", "floor", PROTECTED, tok, "uv.starlette",
                  token_checks()),
        E2EConfig("uv.starlette_auth.hs256", "Starlette AuthenticationMiddleware+pyjwt", "starlette_auth",
                  PROTECTED, tok, "uv.starlette", token_checks(frozenset({401, 403}))),
        E2EConfig("uv.fastapi", "bare FastAPI, /admin (token ignored)", "fastapi", PROTECTED, tok),
        E2EConfig("uv.routeguard.fastapi.hs256", "routeguard on FastAPI, HS256 token", "routeguard_fastapi",
                  PROTECTED, tok, "uv.fastapi", token_checks()),
        E2EConfig("gu.flask", "bare Flask (gunicorn sync), /admin (token ignored)", "flask", PROTECTED, tok),
        E2EConfig("gu.routeguard.hs256", "routeguard on Flask, HS256 token", "routeguard_flask", PROTECTED, tok,
                  "gu.flask", token_checks()),
        E2EConfig("gu.floor.hs256", "minimal guard on Flask, HS256 token", "floor_flask", PROTECTED, tok,
                  "gu.flask", token_checks()),
    ]


# -- servers ----------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pin(cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu)] if cpu is not None and shutil.which("taskset") else []


def cpu_split() -> tuple[int | None, int | None]:
    """(server core, wrk core): two different cores when there are two, else no pinning."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return (cores[0], cores[1]) if len(cores) >= 2 else (None, None)


@dataclass
class Server:
    app: str
    port: int
    proc: subprocess.Popen[bytes]


@contextmanager
def servers(apps: Sequence[str], cpu: int | None, timeout: float = 90.0,
            wrapper: Sequence[str] = ()) -> Iterator[dict[str, Server]]:
    """Start one server per app (under ``wrapper``, a command prefix such as valgrind's), wait
    until each accepts connections, stop them all at the end."""
    running: dict[str, Server] = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "0"}
    try:
        for app in apps:
            port = free_port()
            cmd = [*_pin(cpu), *wrapper, sys.executable, "-m", "benchmarks.e2e_serve", app, str(port)]
            running[app] = Server(app, port, subprocess.Popen(cmd, cwd=ROOT, env=env))
        deadline = time.monotonic() + timeout
        for server in running.values():
            while True:
                if server.proc.poll() is not None:
                    raise RuntimeError(f"server {server.app} exited with {server.proc.returncode}")
                try:
                    socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"server {server.app} did not start in {timeout:.0f} s") from None
                    time.sleep(0.1)
        yield running
    finally:
        for server in running.values():
            server.proc.terminate()
        for server in running.values():
            try:
                server.proc.wait(10)
            except subprocess.TimeoutExpired:
                server.proc.kill()
                server.proc.wait()


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (gunicorn's worker is a child of the arbiter)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, ()))
    return found


def cpu_ns(pids: Sequence[int]) -> int:
    """On-CPU time of every thread of ``pids`` in ns (schedstat; /proc/<pid>/stat ticks if absent)."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                try:
                    with open(f"/proc/{pid}/task/{task}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                    total += (int(fields[11]) + int(fields[12])) * 1_000_000_000 // tick
                except (OSError, ValueError, IndexError):
                    continue
    return total


# -- decisions over the wire ------------------------------------------------------------------------
Fetch = Callable[[int, str, Headers], int]


def fetch_status(port: int, path: str, headers: Headers) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Accept": "*/*", **headers})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def verify(configs: Sequence[E2EConfig], ports: dict[str, int], fetch: Fetch = fetch_status) -> None:
    """Prove every configuration decides as expected over the wire; raise AssertionError if not."""
    for config in configs:
        for path, headers, accepted in [(config.path, config.headers, frozenset({200})), *config.checks]:
            status = fetch(ports[config.app], path, headers)
            if status not in accepted:
                raise AssertionError(f"{config.name}: GET {path} answered {status}, expected {sorted(accepted)}")


# -- wrk --------------------------------------------------------------------------------------------
_UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6}


def _micros(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)([a-z]+)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> dict[str, float]:
    """requests, req/s, p50/p99 in us and non-2xx/3xx responses from ``wrk --latency`` output."""
    found: dict[str, float] = {"non2xx": 0.0, "errors": 0.0}
    for line in output.splitlines():
        line = line.strip()
        if m := re.match(r"(\d+) requests in", line):
            found["requests"] = float(m.group(1))
        elif m := re.match(r"Requests/sec:\s+([\d.]+)", line):
            found["rps"] = float(m.group(1))
        elif m := re.match(r"(50|99)(?:\.0+)?%\s+(\S+)", line):
            found[f"p{m.group(1)}"] = _micros(m.group(2))
        elif m := re.match(r"Non-2xx or 3xx responses:\s+(\d+)", line):
            found["non2xx"] = float(m.group(1))
        elif m := re.match(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", line):
            found["errors"] = float(int(m.group(1)) + int(m.group(3)) + int(m.group(4)))
    missing = {"requests", "rps", "p50", "p99"} - found.keys()
    if missing:
        raise RuntimeError(f"wrk output lacks {sorted(missing)}:\n{output}")
    return found


def measure(config: E2EConfig, server: Server, seconds: int, cpu: int | None, connections: int
            ) -> dict[str, float]:
    """One wrk run against ``config``: wrk's figures plus the server's CPU ns per request."""
    cmd = [*_pin(cpu), "wrk", "-t1", f"-c{connections}", f"-d{max(1, seconds)}s", "--latency"]
    for name, value in config.headers.items():
        cmd += ["-H", f"{name}: {value}"]
    cmd.append(f"http://127.0.0.1:{server.port}{config.path}")
    pids = _tree(server.proc.pid)
    before = cpu_ns(pids)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    used = cpu_ns(pids) - before
    result = parse_wrk(out)
    if result["non2xx"] or result["errors"]:
        raise RuntimeError(f"{config.name}: wrk saw {result['non2xx']:.0f} non-2xx and "
                           f"{result['errors']:.0f} socket errors")
    result["cpu_us"] = used / 1000 / max(result["requests"], 1.0)
    return result


# -- instructions over the wire (valgrind) ---------------------------------------------------------
WARMUP = 200


def _callgrind(pid: int, *args: str) -> None:
    done = subprocess.run(["callgrind_control", *args, str(pid)], capture_output=True, text=True, timeout=120)
    if done.returncode or "Error" in done.stdout + done.stderr:  # it exits 0 on some errors
        raise RuntimeError(f"callgrind_control {' '.join(args)} {pid}: {done.stdout}{done.stderr}".strip())


def send(port: int, config: E2EConfig, requests: int) -> None:
    """``requests`` times ``config``'s request over one connection; anything but 200 stops the run."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        for _ in range(requests):
            conn.request("GET", config.path, headers={"Accept": "*/*", **config.headers})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{config.name}: answered {response.status} while counted")
    finally:
        conn.close()


def _count_live(app: str, configs: Sequence[E2EConfig], requests: int, workdir: Path) -> dict[str, float]:
    """One server, counting switched on around each configuration's requests (uvicorn: the
    requests are served by the process valgrind started, which ``callgrind_control`` reaches)."""
    wrapper = ["valgrind", "-q", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={workdir}/cg.%p"]
    found: dict[str, float] = {}
    with servers([app], None, timeout=600.0, wrapper=wrapper) as running:
        server = running[app]
        verify(configs, {app: server.port})
        pid = server.proc.pid
        for config in configs:
            send(server.port, config, WARMUP)
            _callgrind(pid, "--instr=on")
            _callgrind(pid, "--zero")
            send(server.port, config, requests)
            _callgrind(pid, "--dump")
            _callgrind(pid, "--instr=off")
            dumps = sorted(workdir.glob(f"cg.{pid}.*"), key=lambda p: int(p.suffix[1:]))
            if not dumps:
                raise RuntimeError(f"{config.name}: callgrind wrote no dump")
            found[config.name] = dump_total(dumps[-1].read_text(errors="replace")) / requests
    return found


def _count_by_difference(app: str, configs: Sequence[E2EConfig], requests: int, workdir: Path
                         ) -> dict[str, float]:
    """gunicorn serves from a forked worker, which ``callgrind_control`` cannot reach: the worker's
    whole life is counted twice, with and without the counted requests, and the difference taken."""
    found: dict[str, float] = {}
    for config in configs:
        totals = []
        for extra in (0, requests):
            run = workdir / f"{config.name}.{extra}"
            run.mkdir()
            wrapper = ["valgrind", "-q", "--tool=callgrind", f"--callgrind-out-file={run}/cg.%p"]
            with servers([app], None, timeout=600.0, wrapper=wrapper) as running:
                server = running[app]
                verify(configs, {app: server.port})
                send(server.port, config, WARMUP + extra)
                arbiter = server.proc.pid
            workers = [dump for dump in run.glob("cg.*") if dump.name != f"cg.{arbiter}"]
            if len(workers) != 1:
                raise RuntimeError(f"{config.name}: expected one gunicorn worker's dump, found {workers}")
            totals.append(dump_total(workers[0].read_text(errors="replace")))
        found[config.name] = (totals[1] - totals[0]) / requests
    return found


def count_instructions(configs: Sequence[E2EConfig], requests: int, workdir: Path) -> dict[str, float]:
    """Server instructions per request of every configuration, one valgrind server per app."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind not found: install it (Debian: apt-get install valgrind)")
    found: dict[str, float] = {}
    for app in dict.fromkeys(config.app for config in configs):
        mine = [config for config in configs if config.app == app]
        count = _count_live if APP_SERVERS[app] == "uvicorn" else _count_by_difference
        for name, value in count(app, mine, requests, workdir).items():
            found[name] = value
            print(f"{name}: {value:,.0f} instructions per request", flush=True)
    return found


def render_instructions(configs: Sequence[E2EConfig], counts: dict[str, float], requests: int) -> list[str]:
    """The instruction table and the targets judged on it."""
    lines = [f"Server instructions per request (callgrind, {requests} counted requests each):", "",
             "| configuration | instructions/request | vs bare |", "|---|---:|---:|"]
    for config in configs:
        shown = f"{counts[config.name] / counts[config.base]:.2f}x" if config.base else ""
        lines.append(f"| {config.label} (`{config.name}`) | {counts[config.name]:,.0f} | {shown} |")
    lines.append("")
    for target in TARGETS:
        ratio = counts[target.config] / counts[target.base]
        judged = verdict(ratio, target.limit)
        limit = "" if target.limit is None else f"; target <= {target.limit:.2f}x"
        lines.append(f"{judged + ':' if judged else '    '} {target.label}: {ratio:.2f}x of `{target.base}` "
                     f"(instructions{limit})")
    return lines


# -- report -----------------------------------------------------------------------------------------
def verdict(ratio: float, limit: float | None) -> str | None:
    """PASS/FAIL against a target; None for a reference ratio."""
    return None if limit is None else ("PASS" if ratio <= limit else "FAIL")


def summarize(configs: Sequence[E2EConfig], rounds: list[dict[str, dict[str, float]]]) -> dict[str, Any]:
    """Medians per configuration and per-round target ratios (median, min, max)."""
    rows: dict[str, dict[str, float]] = {}
    for config in configs:
        runs = [r[config.name] for r in rounds if config.name in r]
        cpu = [run["cpu_us"] for run in runs]
        rows[config.name] = {
            "rps": statistics.median(run["rps"] for run in runs),
            "p50": statistics.median(run["p50"] for run in runs),
            "p99": statistics.median(run["p99"] for run in runs),
            "cpu_us": statistics.median(cpu),
            "cpu_min": min(cpu),
            "cpu_max": max(cpu),
        }
    ratios: dict[str, dict[str, Any]] = {}
    for target in TARGETS:
        per_round = [r[target.config]["cpu_us"] / r[target.base]["cpu_us"]
                     for r in rounds if target.config in r and target.base in r]
        if not per_round:
            continue
        median = statistics.median(per_round)
        ratios[target.config] = {
            "label": target.label, "base": target.base, "limit": target.limit, "ratio": median,
            "min": min(per_round), "max": max(per_round),
            "verdict": verdict(median, target.limit),
        }
    return {"rows": rows, "ratios": ratios}


def render(configs: Sequence[E2EConfig], summary: dict[str, Any]) -> list[str]:
    """The results table and the target lines, as markdown."""
    lines = [
        "| configuration | req/s | p50 (us) | p99 (us) | server CPU us/req (min-max) | vs bare |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for config in configs:
        row = summary["rows"][config.name]
        ratio = ""
        if config.base is not None:
            ratio = f"{row['cpu_us'] / summary['rows'][config.base]['cpu_us']:.2f}x"
        lines.append(
            f"| {config.label} (`{config.name}`) | {row['rps']:.0f} | {row['p50']:.0f} | {row['p99']:.0f} "
            f"| {row['cpu_us']:.0f} ({row['cpu_min']:.0f}-{row['cpu_max']:.0f}) | {ratio} |"
        )
    lines.append("")
    for ratio in summary["ratios"].values():
        limit = "" if ratio["limit"] is None else f" (target <= {ratio['limit']:.2f}x)"
        verdict = f"{ratio['verdict']}: " if ratio["verdict"] else "     "
        lines.append(f"{verdict}{ratio['label']}: {ratio['ratio']:.2f}x of `{ratio['base']}`"
                     f" (rounds {ratio['min']:.2f}-{ratio['max']:.2f}){limit}")
    return lines


def machine() -> dict[str, Any]:
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    return {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(), "loadavg": " ".join(load)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 1 s per configuration")
    parser.add_argument("--rounds", type=int, help="rounds (default 5, quick 2)")
    parser.add_argument("--seconds", type=int, help="seconds per wrk run (default 3, quick 1)")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--verify-only", action="store_true", help="check decisions over the wire, no timing")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--instructions", action="store_true",
                        help="count the servers' instructions per request under valgrind instead of timing")
    parser.add_argument("--requests", type=int, default=1000, help="counted requests per configuration")
    args = parser.parse_args(argv)
    if args.instructions:
        return instructions_main(args.requests, args.json)
    rounds = args.rounds or (2 if args.quick else 5)
    seconds = args.seconds or (1 if args.quick else 3)
    if not args.verify_only and shutil.which("wrk") is None:
        print("wrk is missing: run benchmarks/setup.sh (apt-get install wrk)", file=sys.stderr)
        return 2
    configs = build_configs(make_creds())
    apps = list(dict.fromkeys(config.app for config in configs))
    server_cpu, client_cpu = cpu_split()
    rng = random.Random(args.seed)
    start_load = machine()["loadavg"]
    with servers(apps, server_cpu) as running:
        verify(configs, {name: server.port for name, server in running.items()})
        print(f"decisions verified over the wire for {len(configs)} configurations", flush=True)
        if args.verify_only:
            return 0
        results: list[dict[str, dict[str, float]]] = []
        for number in range(rounds):
            order = list(configs)
            rng.shuffle(order)
            current: dict[str, dict[str, float]] = {}
            for config in order:
                current[config.name] = measure(config, running[config.app], seconds, client_cpu, args.connections)
            results.append(current)
            print(f"round {number + 1}/{rounds} done (load {machine()['loadavg']})", flush=True)
    summary = summarize(configs, results)
    info = {**machine(), "loadavg_start": start_load, "rounds": rounds, "seconds": seconds,
            "connections": args.connections, "pinned": server_cpu is not None}
    print(f"\nPython {info['python']} on {info['processor']}, {info['cpus']} CPUs; load average "
          f"{start_load} at start, {info['loadavg']} at end; {rounds} rounds x {seconds:g} s, "
          f"wrk -c{args.connections}; server and wrk pinned to separate cores: {info['pinned']}\n")
    print("\n".join(render(configs, summary)))
    if args.json:
        args.json.write_text(json.dumps({"machine": info, **summary, "rounds": results}, indent=2))
    return 0


def instructions_main(requests: int, output: Path | None) -> int:
    """``--instructions``: count, print, optionally write JSON."""
    import tempfile

    configs = build_configs(make_creds())
    with tempfile.TemporaryDirectory(prefix="routeguard-e2e-cg-") as workdir:
        counts = count_instructions(configs, requests, Path(workdir))
    info = machine()
    print(f"\nPython {info['python']} on {info['processor']}, {info['cpus']} CPUs; instructions do not "
          f"depend on the load (load average {info['loadavg']})\n")
    print("\n".join(render_instructions(configs, counts, requests)))
    if output:
        output.write_text(json.dumps({"machine": info, "requests": requests, "instructions": counts}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
