"""The decision log: one JSON object a line per request, for ``routeguard suggest`` and the
permission matrix's observed-traffic view (``decision_log = "decisions.jsonl"`` in the policy).

Each line has ``time``, ``method``, ``path`` (the judged path, never the query string),
``rule`` (1-based position, or null for default deny and the firewall), ``pattern``,
``outcome``, ``status`` (the status the client actually got: in report mode, the app's answer),
``would_status`` (the guard's refusal status if enforced, null when the app answers),
``report_only``, ``identity`` (``anonymous``, ``authenticated`` or ``invalid``: a credential
was presented and rejected), ``roles`` and ``websocket``. Never a credential, a cookie, a
header or the subject.

Requests never wait on the disk: lines go through a bounded queue to one writer thread,
which appends whole batches with a single ``write`` (``O_APPEND``, so workers sharing the file
do not tear each other's lines). A full queue drops lines and counts them (``dropped``); the
file stops growing at :data:`MAX_BYTES`, with one warning.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import threading
import time
import weakref
from pathlib import Path
from typing import Final

from ..core.decision import Decision, Outcome
from ..core.request import RequestView
from .audit import printable

logger: Final = logging.getLogger("routeguard")

MAX_QUEUE: Final = 10_000
MAX_BYTES: Final = 256 * 1024 * 1024
_BATCH: Final = 512


def entry(decision: Decision, request: RequestView, status: int | None, would_status: int | None) -> dict[str, object]:
    """The log line of one decided request (see the module docstring)."""
    identity = decision.identity
    rule = decision.rule
    return {
        "time": round(time.time(), 3),
        "method": printable(request.method, 32),
        "path": printable(request.path),
        "rule": rule.position if rule is not None else None,
        "pattern": rule.pattern if rule is not None else None,
        "outcome": decision.outcome.value,
        "status": status,
        "would_status": would_status if decision.outcome is not Outcome.ALLOW else None,
        "report_only": decision.report_only,
        "identity": "invalid" if decision.invalid_credentials else "anonymous" if identity is None else "authenticated",
        "roles": sorted(identity.roles) if identity is not None else [],
        "websocket": request.websocket,
    }


class DecisionLog:
    """Appends decision lines to ``path`` from a background thread: ``log.write(entry)``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.dropped = 0
        self._queue: queue.Queue[bytes] = queue.Queue(MAX_QUEUE)
        self._size = path.stat().st_size if path.exists() else 0
        self._full = False
        self._thread = threading.Thread(target=self._run, name="routeguard-decision-log", daemon=True)
        self._thread.start()
        atexit.register(_flush_at_exit, weakref.ref(self))

    def write(self, line: dict[str, object]) -> None:
        """Queue one line; never blocks (a full queue drops it)."""
        try:
            self._queue.put_nowait(json.dumps(line, separators=(",", ":")).encode() + b"\n")
        except queue.Full:
            self.dropped += 1

    def flush(self, timeout: float = 5.0) -> None:
        """Wait (at most ``timeout`` seconds) until every queued line is on disk."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < _BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._append(b"".join(batch))
            except OSError as exc:
                logger.error("decision log %s: cannot write (%s)", self.path, exc.strerror)
            finally:
                for _ in batch:
                    self._queue.task_done()

    def _append(self, data: bytes) -> None:
        if self._size + len(data) > MAX_BYTES:
            if not self._full:
                self._full = True
                logger.warning("decision log %s reached %d bytes; no more lines are written", self.path, MAX_BYTES)
            return
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        self._size += len(data)


_LOGS: dict[Path, DecisionLog] = {}
_LOGS_LOCK: Final = threading.Lock()


def open_log(path: Path) -> DecisionLog:
    """The process's one writer for ``path`` (guards sharing a file share its writer)."""
    key = path.absolute()
    with _LOGS_LOCK:
        log = _LOGS.get(key)
        if log is None:
            log = _LOGS[key] = DecisionLog(key)
        return log


def _flush_at_exit(ref: weakref.ref[DecisionLog]) -> None:
    log = ref()
    if log is not None:
        log.flush(timeout=2.0)
