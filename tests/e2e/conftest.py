"""Fixtures for the end-to-end tests: real servers (started once per session, always stopped),
credentials obtained from them the way clients get them, and the artifacts directory."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from ..support import require
from .model import ANONYMOUS, Who, invalid_tokens, tampered_cookie, user_who
from .servers import ARTIFACTS, Server, fresh_source, start_gunicorn, start_uvicorn

_artifact_dirs: list[Path] = []


@pytest.fixture(scope="session")
def uvicorn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The FastAPI example under uvicorn (h11), store in a private SQLite file."""
    require(importlib.util.find_spec("uvicorn") is not None, "uvicorn")
    server = start_uvicorn(tmp_path_factory.mktemp("uvicorn"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gunicorn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The Flask example under gunicorn: 2 gthread workers sharing one SQLite store."""
    require(importlib.util.find_spec("gunicorn") is not None, "gunicorn")
    server = start_gunicorn(tmp_path_factory.mktemp("gunicorn"))
    yield server
    server.stop()


@pytest.fixture(params=["uvicorn", "gunicorn"])
def server(request: pytest.FixtureRequest) -> Server:
    """Each real server in turn."""
    return request.getfixturevalue(f"{request.param}_server")  # type: ignore[no-any-return]


def client(source: str | None = None, **kwargs: object) -> httpx.Client:
    """An httpx client from its own loopback address that never keeps cookies between requests."""
    import http.cookiejar

    jar = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source or fresh_source()), cookies=jar,
                        follow_redirects=False, timeout=10, **kwargs)  # type: ignore[arg-type]


def log_in(server: Server, user: str, password: str, next_: str = "/") -> httpx.Response:
    with client() as c:
        return c.post(server.url + "/login", data={"username": user, "password": password, "next": next_})


def session_of(response: httpx.Response) -> str:
    value = response.cookies.get("session")
    assert value, f"no session cookie in {response.headers}"
    return value


def api_token(server: Server, user: str, password: str) -> str:
    with client() as c:
        response = c.post(server.url + "/api/token", json={"username": user, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def on_every_worker(server: Server, send: Callable[[httpx.Client], httpx.Response], *, source: str | None = None,
                    attempts: int = 200) -> list[httpx.Response]:
    """Send on fresh connections (from ``source``, or each from its own address) until every
    worker process answered at least once; all the responses."""
    workers = set(server.worker_pids())
    seen: set[int] = set()
    responses = []
    for _ in range(attempts):
        with client(source) as c:
            response = send(c)
        responses.append(response)
        seen.add(int(response.headers["x-e2e-pid"]))
        if seen >= workers:
            return responses
    raise AssertionError(f"only workers {sorted(seen)} of {sorted(workers)} answered in {attempts} requests")


@pytest.fixture
def identities(server: Server) -> dict[str, Who]:
    """Every kind of client, with credentials this server issued a moment ago.

    Fresh for each test: logout revokes more than the one credential it was called with (every
    earlier session cookie of that user), so no test may depend on another test's logins. The
    logout tests sign bob in and out; nobody here holds a session cookie of bob's."""
    found = {"anonymous": ANONYMOUS}
    for user in ("alice", "bob", "root"):
        token = api_token(server, user, f"{user}-pass")
        found[f"{user}-token"] = user_who(f"{user}-token", user, {"Authorization": f"Bearer {token}"})
    for user in ("alice", "root"):
        cookie = session_of(log_in(server, user, f"{user}-pass"))
        found[f"{user}-cookie"] = user_who(f"{user}-cookie", user, {"Cookie": f"session={cookie}"})
    found.update(invalid_tokens())
    alice = found["alice-cookie"].headers["Cookie"].removeprefix("session=")
    tampered = {"Cookie": f"session={tampered_cookie(alice, server.app)}"}
    found["tampered-cookie"] = Who("tampered-cookie", headers=tampered, invalid=True)
    return found


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """A fresh directory under test-artifacts/ for this test's files (gitignored), reported at the end."""
    name = request.node.name.replace("[", "-").replace("]", "").replace("/", "_")
    path = ARTIFACTS / "e2e" / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    _artifact_dirs.append(path)
    request.node.user_properties.append(("artifacts", str(path)))
    print(f"artifacts: {path}")
    return Path(path)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    existing = [p for p in _artifact_dirs if p.exists() and any(p.iterdir())]
    if existing:
        terminalreporter.section("e2e artifacts")
        for path in existing:
            terminalreporter.write_line(f"{path}: {', '.join(sorted(f.name for f in path.iterdir()))}")
