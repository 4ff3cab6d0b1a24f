"""routeguard benchmark suite: the guard's cost next to what users would pick instead.

    python benchmarks/run.py                  # full run (about 75 s on 2 cores)
    python benchmarks/run.py --quick          # smoke run: every configuration, few batches
    python benchmarks/run.py --json out.json  # also write the results as JSON (--markdown: tables)
    python benchmarks/run.py --only 'asgi.*'  # a subset, while working on one path

Everything runs in process: ASGI apps are awaited with prebuilt scopes, WSGI apps called with
prebuilt environs, so the numbers are the cost of the code under test, not of a server or a
socket. Each configuration's decisions are checked first (the admin credential passes; a
credential without the role, no credential and a forged one are refused), then all are timed
in interleaved rounds and reported as the median time per request, with its ratio to the bare
app and to the peer it replaces. The issue's targets are printed as PASS/FAIL at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from time import perf_counter_ns
from typing import Any

if __package__ in (None, ""):  # run as a script: make "benchmarks" importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from benchmarks import calls, configs, harness, scaling

RULE_COUNTS = (10, 100, 1_000, 10_000, 100_000)
MATCHERS = ("routeguard", "naive", "casbin")
#: At 100,000 rules only routeguard's matcher is timed, checked against the naive list on a few
#: queries (it takes about 30 ms a query; pycasbin takes minutes to load that many rules).
_ONLY_ROUTEGUARD = 100_000


def _matcher_batch(match: Callable[[str, str, str], object], queries: Sequence[tuple[str, str, str]]
                   ) -> Callable[[int], int]:
    def batch(n: int) -> int:
        start = perf_counter_ns()
        for _ in range(n):
            for role, method, path in queries:
                match(role, method, path)
        return perf_counter_ns() - start

    return batch


def scaling_cases(quick: bool, log: Callable[[str], None]) -> tuple[list[harness.Case], dict[str, dict[str, Any]]]:
    """One case per (matcher, rule count); every matcher is checked against the others first."""
    cases: list[harness.Case] = []
    meta: dict[str, dict[str, Any]] = {}
    n_queries = 16 if quick else 32
    for count in RULE_COUNTS:
        log(f"building {count} rules")
        rules = scaling.generate_rules(count)
        queries = scaling.generate_queries(rules, n_queries)
        built = {
            "routeguard": scaling.routeguard_matcher(rules),
            "naive": scaling.naive_matcher(rules),
            **({"casbin": scaling.casbin_matcher(rules)} if count < _ONLY_ROUTEGUARD else {}),
        }
        # pycasbin re-compiles a regex per rule per call: at 10,000 rules one check takes a
        # good fraction of a second, so it answers the first queries only (one of them a miss).
        casbin_queries = queries if count < 10_000 else queries[: 3 if quick else 10]
        if count >= _ONLY_ROUTEGUARD:
            casbin_queries = []
        for query in queries if count < _ONLY_ROUTEGUARD else queries[:4]:
            expected = built["routeguard"](*query)
            if built["naive"](*query) != expected:
                raise AssertionError(f"naive matcher disagrees at {count} rules on {query}")
        for query in casbin_queries:
            if built["casbin"](*query) != (built["routeguard"](*query) is not None):
                raise AssertionError(f"pycasbin disagrees at {count} rules on {query}")
        for matcher in MATCHERS if count < _ONLY_ROUTEGUARD else ("routeguard",):
            used = casbin_queries if matcher == "casbin" else queries
            name = f"match.{matcher}.{count}"
            budget = (1.5 if quick else 8.0) if matcher == "casbin" else None
            cases.append(harness.Case(name, _matcher_batch(built[matcher], used), per_op=len(used), budget_s=budget))
            label = {"routeguard": "routeguard Matcher", "naive": "naive first-match regex list",
                     "casbin": "pycasbin keyMatch2 (RESTful model)"}[matcher]
            meta[name] = {"label": f"{label}, {count} rules", "kind": "match", "rules": count,
                          "queries": len(used), "matcher": matcher}
    return cases, meta


TARGETS: list[dict[str, Any]] = [
    {"id": "matcher_scaling", "text": "matcher: 10,000 rules cost <= 1.5x 10 rules",
     "num": "match.routeguard.10000", "den": "match.routeguard.10", "op": "<=", "limit": 1.5},
    {"id": "matcher_scaling_100k", "text": "issue 16: matcher, 100,000 rules cost <= 1.5x 10 rules",
     "num": "match.routeguard.100000", "den": "match.routeguard.10", "op": "<=", "limit": 1.5},
    {"id": "matcher_vs_casbin", "text": "matcher at 10,000 rules >= 1,000x faster than pycasbin keyMatch2",
     "num": "match.casbin.10000", "den": "match.routeguard.10000", "op": ">=", "limit": 1000.0},
    {"id": "hs256_vs_starlette", "text": "repeated HS256 token >= 5x faster than AuthenticationMiddleware + pyjwt",
     "num": "asgi.starlette_auth.hs256", "den": "asgi.routeguard.hs256", "op": ">=", "limit": 5.0,
     "floor": "asgi.floor.hs256"},
    {"id": "rs256_vs_starlette", "text": "repeated RS256 token >= 5x faster than AuthenticationMiddleware + pyjwt",
     "num": "asgi.starlette_auth.rs256", "den": "asgi.routeguard.rs256", "op": ">=", "limit": 5.0,
     "floor": "asgi.floor.hs256"},  # a cached token costs the same whatever its algorithm
    {"id": "session_vs_starlette", "text": "session cookie no slower than SessionMiddleware + role check",
     "num": "asgi.routeguard.session", "den": "asgi.starlette_session", "op": "<=", "limit": 1.0},
    {"id": "public_vs_bare", "text": "public route <= 1.3x the bare Starlette app",
     "num": "asgi.routeguard.public", "den": "asgi.starlette.public", "op": "<=", "limit": 1.3,
     "floor": "asgi.floor.public"},
    {"id": "wsgi_vs_bare", "text": "Flask + repeated token <= 1.2x the bare Flask app",
     "num": "wsgi.routeguard.hs256", "den": "wsgi.flask", "op": "<=", "limit": 1.2, "floor": "wsgi.floor.hs256"},
    # Issue 16: what routeguard adds to the bare app, over what the minimal guard adds ("base").
    {"id": "public_added_vs_floor", "text": "issue 16: public route, added cost <= 1.5x the minimal guard's",
     "num": "asgi.routeguard.public", "den": "asgi.floor.public", "base": "asgi.starlette.public", "op": "<=",
     "limit": 1.5},
    {"id": "token_added_vs_floor", "text": "issue 16: repeated HS256 token, added cost <= 1.5x the minimal guard's",
     "num": "asgi.routeguard.hs256", "den": "asgi.floor.hs256", "base": "asgi.starlette", "op": "<=",
     "limit": 1.5},
]


def evaluate_targets(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for target in TARGETS:
        if any(target[k] not in results for k in ("num", "den", "base") if k in target):
            continue
        num, den = (results[target[k]]["median_ns"] for k in ("num", "den"))
        if "base" in target:  # the added costs, over the same bare app
            base = results[target["base"]]["median_ns"]
            num, den = num - base, den - base
        value = num / den if den > 0 else math.inf  # (a quick run's noise can hide the floor's cost)
        ok = value <= target["limit"] if target["op"] == "<=" else value >= target["limit"]
        entry = {**target, "value": value, "pass": ok}
        floor = target.get("floor")
        if floor in results:  # the same ratio with the minimal guard in routeguard's place
            guard = "den" if target["den"].startswith(("asgi.routeguard", "wsgi.routeguard")) else "num"
            ratio = {**{k: results[target[k]]["median_ns"] for k in ("num", "den")}, guard: results[floor]["median_ns"]}
            entry["floor_value"] = ratio["num"] / ratio["den"]
        out.append(entry)
    return out


def _versions() -> dict[str, str]:
    versions = {}
    for dist in ("routeguard", "starlette", "fastapi", "flask", "werkzeug", "pyjwt", "cryptography",
                 "itsdangerous", "pycasbin"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "?"
    return versions


def _fmt_time(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:,.2f} ms"
    return f"{ns / 1e3:,.2f} µs"


def print_report(results: dict[str, dict[str, Any]], targets: list[dict[str, Any]], out: Any = None) -> None:
    def line(text: str = "") -> None:
        print(text, file=out or sys.stdout)

    sections = (("asgi", "ASGI (in process, prebuilt scopes)"), ("wsgi", "WSGI (in process, prebuilt environs)"))
    for kind, title in sections:
        line(f"\n{title}")
        line(f"{'configuration':<64} {'median':>11} {'IQR':>17} {'vs bare':>8} {'vs peer':>22}")
        for r in results.values():
            if r["kind"] != kind:
                continue
            spread = f"{r['q1_ns'] / 1e3:,.1f}-{r['q3_ns'] / 1e3:,.1f} µs"
            vs_bare = f"{r['ratio_vs_base']:.2f}x" if r.get("ratio_vs_base") else "-"
            vs_peer = _vs_peer(r)
            line(f"{r['label']:<64} {_fmt_time(r['median_ns']):>11} {spread:>17} {vs_bare:>8} {vs_peer:>22}")

    line("\nRule-count scaling (median per decision over the same generated queries)")
    line(f"{'rules':>7} {'routeguard':>12} {'naive list':>12} {'pycasbin':>12} {'pycasbin/routeguard':>20}")
    for count in RULE_COUNTS:
        if f"match.routeguard.{count}" not in results:
            continue
        rg, nv, cb = (results.get(f"match.{m}.{count}", {}).get("median_ns") for m in MATCHERS)
        naive, casbin = (_fmt_time(t) if t else "-" for t in (nv, cb))
        versus = f"{cb / rg:>19,.0f}x" if cb and rg else f"{'-':>20}"
        line(f"{count:>7,} {_fmt_time(rg or 0):>12} {naive:>12} {casbin:>12} {versus}")

    line("\nTargets (issues 7 and 16)")
    for t in targets:
        verdict = "PASS" if t["pass"] else "FAIL"
        bound = f"; a minimal Python guard: {t['floor_value']:,.2f}" if "floor_value" in t else ""
        line(f"  {verdict}  {t['text']}: {t['value']:,.2f} ({t['op']} {t['limit']:,g}{bound})")


def _vs_peer(r: dict[str, Any]) -> str:
    speedup = r.get("speedup_vs_peer")
    if not speedup:
        return ""
    return f"{speedup:.2f}x faster" if speedup >= 1 else f"{1 / speedup:.2f}x slower"


def markdown_report(results: dict[str, dict[str, Any]], targets: list[dict[str, Any]]) -> str:
    """The same tables in Markdown (the README's Performance section is pasted from this)."""
    out = ["| configuration | median | vs bare app | vs peer |", "|---|---:|---:|---|"]
    for kind in ("asgi", "wsgi"):
        for r in results.values():
            if r["kind"] == kind:
                vs_bare = f"{r['ratio_vs_base']:.2f}x" if r.get("ratio_vs_base") else "-"
                peer = results.get(r.get("peer") or "")
                vs_peer = f"{_vs_peer(r)} than {peer['label'].split(':')[0]}" if peer else ""
                out.append(f"| {kind.upper()}: {r['label']} | {_fmt_time(r['median_ns'])} | {vs_bare} | {vs_peer} |")
    out += ["", "| rules | routeguard | naive first-match list | pycasbin keyMatch2 | pycasbin / routeguard |",
            "|---:|---:|---:|---:|---:|"]
    for count in RULE_COUNTS:
        if all(f"match.{m}.{count}" in results for m in MATCHERS):
            rg, nv, cb = (results[f"match.{m}.{count}"]["median_ns"] for m in MATCHERS)
            out.append(f"| {count:,} | {_fmt_time(rg)} | {_fmt_time(nv)} | {_fmt_time(cb)} | {cb / rg:,.0f}x |")
    out += ["", "| target | measured | minimal Python guard | |", "|---|---:|---:|---|"]
    for t in targets:
        bound = f"{t['floor_value']:,.2f}" if "floor_value" in t else "-"
        limit = f"{t['op']} {t['limit']:,g}"
        out.append(f"| {t['text']} | {t['value']:,.2f} ({limit}) | {bound} | {'PASS' if t['pass'] else 'FAIL'} |")
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short smoke run (few batches, fewer queries)")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    parser.add_argument("--markdown", metavar="FILE", help="also write the tables as Markdown to FILE")
    parser.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    parser.add_argument("--only", metavar="GLOB", action="append",
                        help="time only the configurations matching GLOB (repeatable), e.g. 'asgi.*'")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        if not args.quiet:
            print(f"[bench] {message}", file=sys.stderr, flush=True)

    started = time.time()
    settings = harness.QUICK if args.quick else harness.FULL
    log("minting credentials and building apps")
    setups = configs.build_configs(configs.make_credentials())
    configs.check_decisions(setups)
    loop = asyncio.new_event_loop()
    cases: list[harness.Case] = []
    meta: dict[str, dict[str, Any]] = {}
    for config in setups:
        batch = (calls.asgi_batch(config.app, config.request, loop) if config.kind == "asgi"
                 else calls.wsgi_batch(config.app, config.request))
        cases.append(harness.Case(config.name, batch))
        meta[config.name] = {"label": config.label, "kind": config.kind, "base": config.base, "peer": config.peer}
    if not args.only or any(pattern.startswith(("match", "*", "?", "[")) for pattern in args.only):
        match_cases, match_meta = scaling_cases(args.quick, log)
        cases += match_cases
        meta.update(match_meta)
    if args.only:
        cases = [c for c in cases if any(fnmatch.fnmatch(c.name, pattern) for pattern in args.only)]

    log(f"timing {len(cases)} cases")
    harness.measure(cases, settings, default_budget_s=3.0 if args.quick else 20.0, progress=log)
    loop.close()

    results: dict[str, dict[str, Any]] = {}
    for case in cases:
        results[case.name] = {**meta[case.name], **harness.summary(case)}
    for r in results.values():
        if r.get("base"):
            base = results.get(r["base"])
            r["ratio_vs_base"] = r["median_ns"] / base["median_ns"] if base else None
        if r.get("peer"):
            peer = results.get(r["peer"])
            r["speedup_vs_peer"] = peer["median_ns"] / r["median_ns"] if peer else None
    targets = evaluate_targets(results)
    print_report(results, targets)

    duration = time.time() - started
    log(f"done in {duration:.1f} s")
    if args.json:
        document = {
            "suite": "routeguard benchmarks",
            "mode": "quick" if args.quick else "full",
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "duration_s": duration,
            "machine": {
                "python": platform.python_version(),
                "implementation": platform.python_implementation(),
                "platform": platform.platform(),
                "cpu_count": os.cpu_count(),
                "clock": harness.clock_info(),
            },
            "versions": _versions(),
            "settings": vars(settings),
            "results": results,
            "targets": targets,
        }
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(markdown_report(results, targets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
