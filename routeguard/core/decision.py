"""Decision values: what the engine concluded about one request, and why."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from ._empty import EMPTY
from ._slots import fast_init
from .identity import Credential, Identity
from .rules import CompiledRule

_NO_PARAMS: Mapping[str, str] = EMPTY


class Reason(enum.StrEnum):
    """The fixed reasons the core gives (one owner for each): a ``str``, so logs, audit events
    and the decision log show the text, while layers compare members (``is Reason.TENANT``),
    never literals. Reasons that carry details (``firewall: ...``, ``invalid credentials:
    ...``) stay plain strings."""

    PUBLIC = "public"
    ALLOWED = "allowed"
    PREFLIGHT = "cors preflight"
    DENY_RULE = "rule denies access"
    MISSING_ROLE = "missing role"
    MISSING_PERMISSION = "missing permission"
    TENANT = "tenant not allowed"
    DEFAULT_DENY = "no rule matches (default deny)"
    NO_CREDENTIALS = "no credentials"
    CHECK_REFUSED = "check refused"


class Outcome(enum.Enum):
    """The kind of answer a request gets; adapters map each to a response."""

    ALLOW = "allow"
    UNAUTHENTICATED = "unauthenticated"  # no (valid) credentials: 401 or a login redirect
    FORBIDDEN = "forbidden"  # identity refused: 403
    NOT_FOUND = "not_found"  # identity refused on a hidden rule: 404
    BAD_REQUEST = "bad_request"  # firewall: 400
    TOO_MANY_REQUESTS = "too_many_requests"  # failed-credential throttle: 429
    UNAVAILABLE = "unavailable"  # a store or key server failed: 503


@fast_init
@dataclass(frozen=True, slots=True)
class Decision:
    """One verdict: the outcome, the rule that decided (None for default-deny or firewall),
    a short machine-readable reason, and the identity the request carried (or None).

    ``invalid_credentials`` marks a 401 caused by a credential that was presented but
    rejected, which API clients learn from ``WWW-Authenticate: Bearer error="invalid_token"``.
    ``report_only`` marks a refusal that was logged but not enforced. ``credential`` is what
    proved the identity of an allowed request (``routeguard.logout`` revokes it).
    ``withheld`` names cookies the guard rejected (``"*"``: every cookie): the adapters remove
    them from the request the app sees.
    """

    outcome: Outcome
    reason: str
    rule: CompiledRule | None = None
    identity: Identity | None = None
    params: Mapping[str, str] = _NO_PARAMS
    invalid_credentials: bool = False
    report_only: bool = False
    retry_after: int | None = None
    credential: Credential | None = None
    withheld: tuple[str, ...] = ()


    @property
    def code(self) -> Reason | None:
        """The reason as a :class:`Reason` member, or None when it carries details."""
        return self.reason if isinstance(self.reason, Reason) else None

    @property
    def allowed(self) -> bool:
        """True when the request reaches the app (including a report-only refusal)."""
        return self.outcome is Outcome.ALLOW or self.report_only

    @property
    def refused(self) -> bool:
        """True when the engine refused the request (enforced or report-only)."""
        return self.outcome is not Outcome.ALLOW
