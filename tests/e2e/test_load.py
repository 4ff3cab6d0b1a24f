"""Load on the real servers: 10,000 requests over 50 concurrent keep-alive connections against
each of uvicorn and gunicorn, mixed identities, routes and client kinds.

Every response is compared with tests/e2e/model.py: zero wrong allows, zero 5xx, zero other
mismatches (status, challenge, redirect target, the identity the app saw). Each connection is
one keep-alive socket from its own loopback address that sends at most 20 invalid credentials,
so the failed-credential throttle (tested on its own in test_servers.py) never blurs a verdict.
Memory is read from /proc/<pid>/status after a warm-up and again at the end: it must stay steady.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass

import pytest

from .model import API, BROWSER, MAX_FAILURES, ROUTES, Expected, Who, counts_as_failure, expect, problems
from .rawhttp import AsyncRawConnection, request_bytes
from .servers import Server, fresh_source

pytestmark = pytest.mark.slow

CONNECTIONS = 50
REQUESTS = 10_000
WARMUP = 2_000
FIREWALL = "/health/..%2fadmin"  # one ambiguous target in the mix: 400 whoever asks
# Memory may grow a little as allocators and bounded caches settle, never with the request count.
RSS_SLACK_KIB = 8 * 1024  # a leak of ~800 bytes per request would already exceed it


@dataclass
class Tally:
    total: int = 0
    wrong_allows: int = 0
    server_errors: int = 0
    mismatches: int = 0

    def __post_init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.examples: list[str] = []

    def note(self, problem: str) -> None:
        if len(self.examples) < 20:
            self.examples.append(problem)


async def _connection(server: Server, who_all: list[Who], seed: int, count: int, tally: Tally) -> None:
    """One keep-alive connection from its own address, ``count`` requests in a seeded order."""
    rng = random.Random(seed)
    paths = [*ROUTES, FIREWALL]
    trusted = [w for w in who_all if not w.invalid]
    failures = 0  # guessed credentials this client sent (the throttle's count)
    conn = await AsyncRawConnection.open(server.port, fresh_source())
    try:
        for _ in range(count):
            who, path = rng.choice(who_all), rng.choice(paths)
            browser, method = rng.random() < 0.3, "HEAD" if rng.random() < 0.1 else "GET"
            if path != FIREWALL and counts_as_failure(who, path):
                if failures == MAX_FAILURES:  # stay under the throttle (test_servers.py tests it on its own)
                    who = rng.choice(trusted)
                else:
                    failures += 1
            expected = Expected(400) if path == FIREWALL else expect(who, path, browser)
            data = request_bytes(method, path, {**who.headers, "Accept": BROWSER if browser else API})
            response = await conn.request(data, head=method == "HEAD")
            tally.total += 1
            tally.statuses[response.status] += 1
            if response.handled and not expected.handled:
                tally.wrong_allows += 1
            if response.status >= 500:
                tally.server_errors += 1
            if method == "HEAD":  # no body to check; FastAPI's GET routes answer HEAD with 405
                ok = {200, 405} if expected.handled else {expected.status}
                found = [] if response.status in ok and response.handled == expected.handled else [
                    f"status {response.status}, expected {expected.status}"]
            elif path == FIREWALL:
                found = [] if response.status == 400 and not response.handled else [f"status {response.status}"]
            else:
                found = problems(expected, who, path, browser, response.status, dict(response.headers),
                                 response.body, response.handled)
            if response.closes:
                found.append("the server closed a keep-alive connection")
            if found:
                tally.mismatches += 1
                tally.note(f"{who.label} {method} {path} ({'browser' if browser else 'api'}): {'; '.join(found)}")
            if response.closes:
                break
    finally:
        await conn.close()


async def _run(server: Server, who_all: list[Who], total: int, seed: int) -> Tally:
    tally = Tally()
    per_connection = total // CONNECTIONS
    await asyncio.gather(*(_connection(server, who_all, seed * 1000 + i, per_connection, tally)
                           for i in range(CONNECTIONS)))
    return tally


def test_load_mixed_identities(server: Server, identities: dict[str, Who]) -> None:
    who_all = list(identities.values())
    warm = asyncio.run(_run(server, who_all, WARMUP, seed=1))
    assert warm.total == WARMUP and not warm.examples, warm.examples
    before = server.rss_kib()

    started = time.monotonic()
    tally = asyncio.run(_run(server, who_all, REQUESTS, seed=2))
    elapsed = time.monotonic() - started
    after = server.rss_kib()
    print(f"{server.name}: {tally.total} requests over {CONNECTIONS} connections in {elapsed:.1f}s "
          f"({tally.total / elapsed:.0f}/s); statuses {dict(sorted(tally.statuses.items()))}; "
          f"RSS KiB before {before} after {after}")

    assert tally.total == REQUESTS, tally.examples
    assert tally.wrong_allows == 0, tally.examples
    assert tally.server_errors == 0, tally.examples
    assert tally.mismatches == 0, "\n".join(tally.examples)
    assert {200, 302, 400, 401, 403} <= set(tally.statuses), tally.statuses  # the mix really was mixed
    assert server.alive() and not server.errors(), server.errors()
    assert set(after) == set(before), "a worker was replaced during the run"
    for pid, rss in after.items():
        assert rss <= before[pid] + RSS_SLACK_KIB, f"worker {pid} grew from {before[pid]} KiB to {rss} KiB"
