"""Real faults for the reliability tests: a redis-server that can be killed, paused, restarted
with or without persistence, or filled; a SQLite file made read-only; a tiny JWKS server."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from .support import RedisServer, require


class Redis(RedisServer):
    """A private redis-server on a free loopback port, with the knobs the fault tests need."""

    def __init__(self, tmp_dir: str, *args: str, persistent: bool = False, binary: str = "redis-server") -> None:
        require(shutil.which(binary) is not None, binary)
        super().__init__(tmp_dir, binary)
        self.args = list(args)
        self.persistent = persistent

    def start(self) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else \
            ["--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", *persistence, "--dir", self.dir,
             "--daemonize", "no", "--loglevel", "warning", *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = self.client()
        for _ in range(200):
            try:
                client.ping()
                client.close()
                return
            except Exception:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def kill(self) -> None:
        """SIGKILL: no shutdown save, connections reset."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def pause(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            self.resume()  # a stopped process cannot handle SIGTERM
        super().stop()

    def fill(self) -> None:
        """Put Redis over its memory limit with ``noeviction``: every write is refused (OOM)."""
        import redis

        client = self.client()
        client.config_set("maxmemory-policy", "noeviction")
        for i in range(32):
            client.set(f"filler:{i}", b"x" * 65536)
        used = int(client.info("memory")["used_memory"])
        client.config_set("maxmemory", used - 1_000_000)
        try:
            client.set("filler:probe", b"1")
        except redis.ResponseError:  # OOM command not allowed when used memory > 'maxmemory'
            return
        raise RuntimeError("redis still accepts writes")


def ledger_entries(client: Any, prefix: str = "routeguard:") -> int:
    """How many entries (revocations, logout times) the Redis behind ``client`` holds in the
    revocation ledger (the hash ``<prefix>ledger``; its ``~`` fields are bookkeeping)."""
    if not list(client.scan_iter(prefix + "ledger")):  # (SCAN is local to a Cluster node, HKEYS is not)
        return 0
    return sum(1 for field in client.hkeys(prefix + "ledger") if not field.startswith(b"~"))


def freeze(path: Path) -> None:
    """Make a SQLite database (and its WAL files) impossible to write, as a full or immutable disk is."""
    files = [p for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")) if p.exists()]
    if os.geteuid() == 0:  # root ignores permissions: the immutable attribute stops it too
        require(shutil.which("chattr") is not None, "chattr")
        for file in files:
            subprocess.run(["chattr", "+i", str(file)], check=True)
    else:
        for file in files:
            file.chmod(0o444)
        path.parent.chmod(0o555)


def thaw(path: Path) -> None:
    files = [p for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")) if p.exists()]
    if os.geteuid() == 0:
        for file in files:
            subprocess.run(["chattr", "-i", str(file)], check=True)
    else:
        path.parent.chmod(0o755)
        for file in files:
            file.chmod(0o644)


class KeyServer:
    """A tiny JWKS server on a loopback address: serves ``document``, or fails (500), is slow
    (``delay`` seconds), or redirects (302 to ``redirect``)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.document: dict[str, Any] = {"keys": []}
        self.hits = 0
        self.failing = False
        self.delay = 0.0
        self.redirect: str | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                time.sleep(server.delay)
                if server.redirect is not None:
                    self.send_response(302)
                    self.send_header("Location", server.redirect)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if server.failing:
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps(server.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.host = host
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.httpd.server_address[1]}/.well-known/jwks.json"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _wait_for(predicate: Any, seconds: float, what: str) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if predicate():
                return
        except Exception:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


class Servers:
    """Several redis-server processes (plain, replica, sentinel or cluster nodes) on loopback ports."""

    def __init__(self, tmp_dir: str) -> None:
        require(shutil.which("redis-server") is not None, "redis-server")
        self.dir = Path(tmp_dir)
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, *args: str, config: str | None = None) -> int:
        from .support import free_port

        for _ in range(3):  # another test may take the free port first: try another
            port = free_port()
            work = self.dir / str(port)
            work.mkdir()
            command = ["redis-server"]
            if config is not None:  # sentinels rewrite their config file: one each
                (work / "sentinel.conf").write_text(config.format(port=port))
                command += [str(work / "sentinel.conf"), "--sentinel"]
            command += ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(work), "--save", "",
                        "--appendonly", "no", "--loglevel", "warning", *args]
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.processes[port] = process
            try:
                _wait_for(lambda p=process, n=port: p.poll() is not None or self.client(n).ping(), 10, "redis")
            finally:
                if process.poll() is not None:
                    del self.processes[port]
            if process.poll() is None:
                return port
        raise RuntimeError("redis-server did not start")

    def client(self, port: int) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1)

    def kill(self, port: int) -> None:
        process = self.processes.pop(port)
        process.kill()
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for port in list(self.processes):
            self.kill(port)


SENTINEL_CONF = """port {{port}}
bind 127.0.0.1
sentinel monitor mymaster 127.0.0.1 {master} 2
sentinel down-after-milliseconds mymaster 1000
sentinel failover-timeout mymaster 5000
sentinel parallel-syncs mymaster 1
"""


def sentinel_group(servers: Servers) -> tuple[int, int, list[int]]:
    """A master, a replica and three sentinels watching them as ``mymaster``."""
    master = servers.start()
    replica = servers.start("--replicaof", "127.0.0.1", str(master))
    _wait_for(lambda: servers.client(replica).info("replication")["master_link_status"] == "up", 10, "replication")
    sentinels = [servers.start(config=SENTINEL_CONF.format(master=master)) for _ in range(3)]
    _wait_for(lambda: all(len(servers.client(s).execute_command("SENTINEL", "REPLICAS", "mymaster")) == 1
                          for s in sentinels), 15, "sentinels to see the replica")
    return master, replica, sentinels


def cluster(servers: Servers) -> list[int]:
    """Three masters joined with ``redis-cli --cluster create`` (127.0.0.1 only)."""
    require(shutil.which("redis-cli") is not None, "redis-cli")
    from .support import free_port

    # The cluster bus defaults to port + 10000, which is out of range (or taken) for many of the
    # ephemeral ports free_port() hands out: give each node a free bus port of its own.
    ports = [servers.start("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                           "--cluster-node-timeout", "2000", "--cluster-port", str(free_port()))
             for _ in range(3)]
    subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports],
                    "--cluster-replicas", "0", "--cluster-yes"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    _wait_for(lambda: all(servers.client(p).cluster("info")["cluster_state"] == "ok" for p in ports), 20,
              "the cluster")
    return ports
