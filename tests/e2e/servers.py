"""Real servers for the end-to-end tests: the FastAPI example under uvicorn, the Flask example
under gunicorn (2 workers, one SQLite store), each on a free 127.0.0.1 port in its own process
group, with its output kept in a log file the tests read when something goes wrong."""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import httpx

from ..support import free_port
from .model import JWT_SECRET, SESSION_SECRET

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"

# Lines that only appear in a server log when a request crashed or the guard failed closed on an
# unexpected error (uvicorn, gunicorn, Flask and routeguard's own "error while deciding").
ERROR_MARKERS = ("Traceback", "Exception in ASGI application", "Exception on ", "error while deciding",
                 "[CRITICAL]", "WORKER TIMEOUT", "Worker exiting")


class Server:
    """One server process (and, for gunicorn, its workers)."""

    def __init__(self, name: str, app: str, command: list[str], tmp: Path) -> None:
        self.name = name  # "uvicorn" or "gunicorn"
        self.app = app  # "fastapi" or "flask"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.store = tmp / f"{name}.db"
        self.log_path = tmp / f"{name}.log"
        env = dict(os.environ)
        env.update(APP_JWT_SECRET=JWT_SECRET, APP_SESSION_SECRET=SESSION_SECRET,
                   APP_STORE_URL=f"sqlite:///{self.store}", PYTHONUNBUFFERED="1")
        self._log: IO[bytes] = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [arg.replace("{port}", str(self.port)) for arg in command],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() reaches every worker
        )

    def wait_ready(self, workers: int = 1, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200 and \
                        len(self.worker_pids()) >= workers:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become ready:\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        """The processes that answer requests: uvicorn itself, or gunicorn's workers."""
        if self.name == "uvicorn":
            return [self.proc.pid]
        children: list[int] = []
        for task in Path(f"/proc/{self.proc.pid}/task").glob("*/children"):
            children += [int(pid) for pid in task.read_text().split()]
        return sorted(children)

    def rss_kib(self) -> dict[int, int]:
        """Resident memory of each worker, from /proc/<pid>/status."""
        sizes = {}
        for pid in self.worker_pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes[pid] = int(line.split()[1])
        return sizes

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def errors(self) -> list[str]:
        """Log lines that betray a crash or an unexpected error (see ERROR_MARKERS)."""
        return [line for line in self.log_text().splitlines() if any(m in line for m in ERROR_MARKERS)]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        # Reap stragglers of the group (a worker the master failed to stop), by group id.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()

    def __repr__(self) -> str:
        return f"<{self.name} {self.app} example on {self.url}>"


def start_uvicorn(tmp: Path) -> Server:
    server = Server("uvicorn", "fastapi", [
        sys.executable, "-m", "uvicorn", "tests.e2e.served:fastapi_app", "--host", "127.0.0.1", "--port", "{port}",
        "--http", "h11", "--no-access-log", "--log-level", "warning", "--timeout-keep-alive", "10",
    ], tmp)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


@functools.cache
def _gunicorn_flags() -> tuple[str, ...]:
    help_text = subprocess.run([sys.executable, "-m", "gunicorn", "--help"], capture_output=True, text=True,
                               check=False, timeout=60).stdout
    # Newer gunicorn opens a control socket under ~/.gunicorn; a test server needs none.
    return ("--no-control-socket",) if "--no-control-socket" in help_text else ()


def start_gunicorn(tmp: Path) -> Server:
    # gthread: the sync worker closes every connection, and keep-alive is under test.
    server = Server("gunicorn", "flask", [
        sys.executable, "-m", "gunicorn", "--workers", "2", "--worker-class", "gthread", "--threads", "4",
        "--bind", "127.0.0.1:{port}", "--keep-alive", "10", "--graceful-timeout", "5", "--log-level", "warning",
        *_gunicorn_flags(), "tests.e2e.served:flask_app",
    ], tmp)
    try:
        server.wait_ready(workers=2)
    except BaseException:
        server.stop()
        raise
    return server


_sources = itertools.count(1)
_sources_lock = threading.Lock()


def fresh_source() -> str:
    """A loopback source address no other request of this test session used.

    The guard throttles invalid credentials per client address (SPEC: failed-credential
    throttling); giving each scenario its own 127.x.y.z keeps scenarios independent."""
    with _sources_lock:
        n = next(_sources)
    high, low = divmod(n, 254 * 254)
    return f"127.{100 + high}.{low // 254 + 1}.{low % 254 + 1}"
