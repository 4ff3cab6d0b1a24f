"""Instructions per request, counted by valgrind's callgrind: a figure that does not move with
the machine's load, for comparing two versions of the guard (a 5 % change is visible, where
wall-clock runs on a shared machine disagree with each other by more).

    python benchmarks/instructions.py                      # every in-process configuration
    python benchmarks/instructions.py --only 'asgi.*'      # a subset
    python benchmarks/instructions.py --json counts.json   # also write the counts as JSON

Each configuration's decisions are checked first (as in ``run.py``), then it is warmed up and
``--requests`` calls are made inside one ``operator.call``: callgrind collects only
while that C function runs (``--toggle-collect``) and dumps the count when it returns
(``--dump-after``), so start-up, imports and warm-up are not counted. The count does not depend
on the machine's load; it runs about 50 times slower than natively (a minute or two in all).
Needs ``valgrind`` (Debian package ``valgrind``); a Python built with symbols (CPython's own
builds are).
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import json
import operator
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make "benchmarks" importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

_MARK = "_operator_call"  # the C function whose duration is counted (operator.call: rare)
_WARMUP = 200


def _one_call(config: Any) -> Callable[[], None]:
    """A function making one request of ``config`` (synchronously: nothing here suspends)."""
    from .calls import _discard, _receive, drain

    request = config.request
    app = config.app
    if config.kind == "asgi":
        def call() -> None:
            coroutine = app(request.copy(), _receive, _discard)
            try:
                coroutine.send(None)
            except StopIteration:
                return
            coroutine.close()
            raise RuntimeError(f"{config.name} suspended: it cannot be counted synchronously")
        return call

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        return None

    def wsgi_call() -> None:
        drain(app(request.copy(), start_response))
    return wsgi_call


def _child(only: list[str], requests: int, order_file: str) -> None:
    """Run under callgrind: one counted ``operator.call`` per configuration, names written in order."""
    from . import configs

    built = [c for c in configs.build_configs(configs.make_credentials())
             if any(fnmatch.fnmatch(c.name, pattern) for pattern in only)]
    configs.check_decisions(built)
    asyncio.set_event_loop(asyncio.new_event_loop())
    names = []
    for config in built:
        call = _one_call(config)
        for _ in range(_WARMUP):
            call()

        def counted(call: Callable[[], None] = call) -> None:
            for _ in range(requests):
                call()

        operator.call(counted)  # counted
        names.append(config.name)
    Path(order_file).write_text(json.dumps(names))


def dump_total(text: str) -> int:
    """The instruction total of one callgrind dump (its ``totals:`` line, else ``summary:``)."""
    match = re.search(r"^totals:\s*(\d+)", text, re.M) or re.search(r"^summary:\s*(\d+)", text, re.M)
    if match is None:
        raise RuntimeError("the callgrind dump has no total")
    return int(match.group(1))


def _total(dump: Path) -> int:
    """The instruction total of one callgrind dump file."""
    return dump_total(dump.read_text(errors="replace"))


def count(only: list[str], requests: int, python: str = sys.executable) -> dict[str, float]:
    """Instructions per request of every configuration matching ``only``."""
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind not found: install it (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        order = Path(tmp) / "order.json"
        command = [
            "valgrind", "--tool=callgrind", "--collect-atstart=no", f"--toggle-collect={_MARK}",
            f"--dump-after={_MARK}", f"--callgrind-out-file={out}",
            python, str(Path(__file__).resolve()), "--child", "--requests", str(requests),
            "--order", str(order), *(a for p in only for a in ("--only", p)),
        ]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        names = json.loads(order.read_text())
        dumps = sorted(Path(tmp).glob("cg.out.*"), key=lambda p: int(p.name.rsplit(".", 1)[1].split("-")[0]))
        if len(dumps) != len(names):  # another caller of the marker would shift every count
            raise RuntimeError(f"{len(dumps)} dumps for {len(names)} configurations")
        return {name: _total(dump) / requests for name, dump in zip(names, dumps, strict=True)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", help="configuration name pattern (repeatable)")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--json", help="write {name: instructions per request} here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--order", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    only = args.only or ["*"]
    if args.child:
        _child(only, args.requests, args.order)
        return 0
    counts = count(only, args.requests)
    if not counts:
        print("no configuration matches", only, file=sys.stderr)
        return 1
    width = max(map(len, counts))
    for name, value in counts.items():
        print(f"{name:<{width}}  {value:>12,.0f} instructions per request")
    if args.json:
        Path(args.json).write_text(json.dumps(counts, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
