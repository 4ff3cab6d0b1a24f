"""Observing decisions: the ``routeguard`` log, counters by rule and outcome, and audit events.

Nothing recorded here ever holds a token, a cookie value, an ``Authorization`` header or a
secret: events carry the method, the judged path (never the query string), the rule, the
outcome, a short reason and the subject. Paths are escaped so a request cannot forge log lines.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ..core.decision import Decision, Outcome
from ..core.request import RequestView

logger: Final = logging.getLogger("routeguard")
_UNPRINTABLE: Final = re.compile(r"[^\x21-\x7e]")


def log_traceback(what: str, exc: BaseException) -> None:
    """At DEBUG, where ``exc`` (and the exceptions it chains) came from: the type and the
    frames (file, line, function, source line), never the message nor any value, which may
    quote a token or a cookie."""
    if not logger.isEnabledFor(logging.DEBUG):
        return
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = traceback.format_list(traceback.extract_tb(current.__traceback__))
        parts.append(f"{type(current).__module__}.{type(current).__qualname__}\n{''.join(frames)}")
        current = current.__cause__ or current.__context__
    logger.debug("%s failed: %s", what, "caused by ".join(parts).rstrip())


def failure_decision(exc: BaseException) -> Decision:
    """The decision for an unexpected error while deciding: refuse (503), logged with where it
    happened (ERROR) and its traceback (DEBUG)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else "?"
    # Only the type and location: exception messages may quote request data.
    logger.error("error while deciding: %s at %s", type(exc).__name__, where)
    log_traceback("deciding", exc)
    return Decision(Outcome.UNAVAILABLE, f"internal error ({type(exc).__name__})")


def printable(text: str, limit: int = 512) -> str:
    """``text`` safe for one log line: non-printable and non-ASCII characters escaped."""
    if len(text) > limit:
        text = text[:limit] + "..."
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode() or "?", text)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One decision, as shipped to a log pipeline by ``on_decision``."""

    time: float
    method: str
    path: str
    rule: int | None
    pattern: str | None
    outcome: str
    reason: str
    subject: str | None
    backend: str | None
    report_only: bool
    status: int | None  # the guard's response status; None when the app answered
    client: str | None
    websocket: bool = False

    def as_dict(self) -> dict[str, object]:
        """The event as a plain dict (JSON-ready)."""
        return {name: getattr(self, name) for name in self.__slots__}


CounterKey = tuple[int | None, str, bool]  # (rule position, outcome, report_only)


class Recorder:
    """Logs each decision, counts it, and hands it to the ``on_decision`` hook if any."""

    def __init__(self, on_decision: Callable[[AuditEvent], object] | None = None) -> None:
        self.on_decision = on_decision
        # Lock-free counting: one itertools.count per key, advanced by next() (one C call under
        # the GIL, never interleaved); a new key's counter is created once (dict.setdefault).
        self._counts: dict[CounterKey, itertools.count[int]] = {}

    def counters(self) -> dict[CounterKey, int]:
        """Decisions so far by (rule position or None, outcome, report_only), for dashboards."""
        return {key: int(repr(counter)[6:-1]) for key, counter in list(self._counts.items())}  # "count(N)"

    def counter(self, decision: Decision) -> tuple[CounterKey, itertools.count[int]]:
        """The key of ``decision`` and its counter (``next()`` counts one; the plain lane keeps
        the counter of a decision it hands out again)."""
        rule = decision.rule
        # Enum's ``value`` is a slow descriptor and hashing a member a Python call: ``_value_``
        # (Enum's documented sunder attribute) is a plain instance attribute.
        key = (rule.index + 1 if rule is not None else None, decision.outcome._value_, decision.report_only)
        counter = self._counts.get(key)
        if counter is None:
            counter = self._counts.setdefault(key, itertools.count())  # once per key, even in a race
        return key, counter

    def count(self, decision: Decision) -> CounterKey:
        """Count one decision (all :meth:`record` does when nothing logs or listens)."""
        key, counter = self.counter(decision)
        next(counter)
        return key

    def record(self, decision: Decision, request: RequestView, status: int | None) -> None:
        """Count, log and publish one decision."""
        key = self.count(decision)
        rule = decision.rule
        outcome = decision.outcome
        refused = outcome is not Outcome.ALLOW
        if self.on_decision is None and not logger.isEnabledFor(logging.INFO if refused else logging.DEBUG):
            return
        level = logging.INFO if refused else logging.DEBUG
        identity = decision.identity
        event = AuditEvent(
            time=time.time(),
            method=printable(request.method, 32),
            path=printable(request.path),
            rule=key[0],
            pattern=rule.pattern if rule is not None else None,
            outcome=decision.outcome.value,
            reason=decision.reason,
            subject=identity.subject if identity is not None else None,
            backend=identity.backend if identity is not None else None,
            report_only=decision.report_only,
            status=status,
            client=request.client,
            websocket=request.websocket,
        )
        if logger.isEnabledFor(level):
            self._log(level, event, decision)
        if self.on_decision is not None:
            try:
                self.on_decision(event)
            except Exception as exc:  # the audit hook never changes a decision
                logger.error("on_decision hook failed: %s", type(exc).__name__)

    @staticmethod
    def _log(level: int, event: AuditEvent, decision: Decision) -> None:
        verb = "would refuse" if event.report_only else ("refused" if decision.refused else "allowed")
        if event.rule is not None:
            matched = f"rule #{event.rule} {event.pattern!r}"
        elif decision.outcome is Outcome.BAD_REQUEST:
            matched = "firewall"
        else:
            matched = "no rule (default deny)"
        logger.log(
            level,
            "%s %s%s %s: %s (%s; %s; subject %s)",
            verb,
            "websocket " if event.websocket else "",
            event.method,
            event.path,
            event.outcome,
            event.reason,
            matched,
            printable(event.subject, 128) if event.subject is not None else "-",
            extra={"routeguard": event.as_dict()},
        )
