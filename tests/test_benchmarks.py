"""The benchmark suite runs and reports every configuration issue 7 lists; the fast paths it
led to (session cookie cache, one-cookie reads, descriptor-filled views, trie captures) keep
their behaviour.

Speed itself is judged by ``benchmarks/run.py`` (its PASS/FAIL lines), never by a unit test:
timings on a shared CI machine are too noisy to assert on. This test proves the suite works
end to end in its ``--quick`` mode, including its own decision checks (every peer answers 200
to the admin credential and refuses the others before anything is timed).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from routeguard import AuthenticationError, Policy, RequestView, SessionCookieBackend
from routeguard.core.request import cookie_values, parse_cookies
from routeguard.core.rules import Matcher, match_segments, parse_pattern, split_path
from routeguard.errors import AmbiguousCookieError
from routeguard.testing import session_cookie

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
    # lower bounds (a minimal Python guard)
    "asgi.floor.public",
    "asgi.floor.hs256",
    "wsgi.floor.hs256",
    # rule-count scaling
    *(f"match.{matcher}.{count}" for matcher in ("routeguard", "naive", "casbin") for count in (10, 100, 1000, 10000)),
]

TARGETS = [
    "matcher_scaling",
    "matcher_scaling_100k",
    "matcher_vs_casbin",
    "hs256_vs_starlette",
    "rs256_vs_starlette",
    "session_vs_starlette",
    "public_vs_bare",
    "wsgi_vs_bare",
    "public_added_vs_floor",
    "token_added_vs_floor",
]


@pytest.mark.slow
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
    assert "Targets (issues 7 and 16)" in completed.stdout

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
        assert target["value"] > 0 or "base" in target  # an added cost can drown in a quick run's noise
        assert isinstance(target["pass"], bool)


# -- the fast paths the benchmark led to keep their behaviour ------------------------------------
SESSION_SECRET = "benchmark-tests-secret-0123456789abcdef"


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("session=abc", id="one"),
        pytest.param("a=1; session=abc; b=2", id="among-others"),
        pytest.param("session=abc; session=abc", id="same-twice"),
        pytest.param("session=abc; session=xyz", id="different-twice"),
        pytest.param('session="a\\"b"; x=1', id="quoted"),
        pytest.param('session="bad; session=ok', id="malformed-quote"),
        pytest.param("sessionx=1; xsession=2; =3; session", id="near-misses"),
        pytest.param(" session = abc ;", id="spaces"),
    ],
)
def test_cookie_values_reads_one_name_like_parse_cookies(header: str) -> None:
    assert cookie_values(header, "session") == parse_cookies(header).get("session", [])


def test_request_view_is_still_a_frozen_dataclass() -> None:
    view = RequestView(method="GET", path="/a", headers={"cookie": "session=1; session=2"})
    assert dataclasses.replace(view, path="/b").path == "/b"
    assert view == RequestView("GET", "/a", headers={"cookie": "session=1; session=2"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.path = "/c"  # type: ignore[misc]
    with pytest.raises(AmbiguousCookieError):
        view.cookie("session")  # two different values: trusted neither


@pytest.mark.parametrize(
    ("pattern", "path"),
    [
        pytest.param("/orgs/{org}/**", "/orgs/acme/a/b", id="param-before-globstar"),
        pytest.param("/files/**/{name}", "/files/a/b/c.txt", id="param-after-globstar"),
        pytest.param("/**/{a}/x/{b}", "/p/q/1/x/2", id="two-params-after-globstar"),
        pytest.param("/{a}/*/{b}", "/1/2/3/", id="trailing-slash"),
    ],
)
def test_matcher_captures_agree_with_match_segments(pattern: str, path: str) -> None:
    rules = Policy(rules=[{"path": pattern}]).compiled_rules
    found = Matcher(rules).match("GET", path)
    assert found is not None
    assert found[1] == match_segments(parse_pattern(pattern), split_path(path))


@pytest.mark.parametrize("format", ["starlette", "flask"])
def test_session_cache_never_outlives_max_age(format: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [time.time()]
    backend = SessionCookieBackend(format=format, secrets=[SESSION_SECRET], max_age=600, clock=lambda: now[0])
    signed_at = int(now[0]) - 100
    value = session_cookie(SESSION_SECRET, {"user_id": "alice", "roles": ["admin"]}, format=format,
                           signed_at=signed_at)
    verified: list[str] = []
    load = backend.load

    def counting_load(value: str) -> Any:
        verified.append(value)
        return load(value)

    monkeypatch.setattr(backend, "load", counting_load)
    request = RequestView(method="GET", path="/", headers={"cookie": f"session={value}"})

    first = backend.authenticate(request)
    assert first is not None and first.identity.roles == frozenset({"admin"})
    assert backend.authenticate(request) == first and len(verified) == 1  # repeated: cached

    now[0] = signed_at + 600  # the cookie's max_age is over: the cached verification is dropped
    backend.authenticate(request)
    assert len(verified) == 2


@pytest.mark.parametrize("format", ["starlette", "flask"])
def test_session_cache_holds_only_genuine_cookies(format: Any) -> None:
    backend = SessionCookieBackend(format=format, secrets=[SESSION_SECRET])
    value = session_cookie(SESSION_SECRET, {"user_id": "alice"}, format=format)
    forged = value[:-2] + ("AA" if value[-2:] != "AA" else "BB")
    for _ in range(2):  # a refusal is never cached as anything else
        with pytest.raises(AuthenticationError):
            backend.authenticate(RequestView(method="GET", path="/", headers={"cookie": f"session={forged}"}))
    anonymous = session_cookie(SESSION_SECRET, {"theme": "dark"}, format=format)
    request = RequestView(method="GET", path="/", headers={"cookie": f"session={anonymous}"})
    assert backend.authenticate(request) is None and backend.authenticate(request) is None
