"""The HTTP methods a rule may name: RFC 9110's, PATCH (RFC 5789) and WebDAV's.

A method outside these sets (``ALL``, ``ANY``, ``*``, a typo) matches no real request, so a
``deny`` rule naming it would silently never apply: the policy refuses to load instead.
"""

from __future__ import annotations

from typing import Final

STANDARD_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
WEBDAV_METHODS: Final = frozenset({
    "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK",  # RFC 4918
    "REPORT", "CHECKIN", "CHECKOUT", "UNCHECKOUT", "VERSION-CONTROL", "MKWORKSPACE", "UPDATE", "LABEL",
    "MERGE", "BASELINE-CONTROL", "MKACTIVITY",  # RFC 3253 (versioning)
    "ORDERPATCH",  # RFC 3648
    "ACL",  # RFC 3744
    "SEARCH",  # RFC 5323
    "MKCALENDAR",  # RFC 4791 (CalDAV)
    "BIND", "UNBIND", "REBIND",  # RFC 5842
    "MKREDIRECTREF", "UPDATEREDIRECTREF",  # RFC 4437
})  # fmt: skip
KNOWN_METHODS: Final = STANDARD_METHODS | WEBDAV_METHODS
_WILDCARDS: Final = frozenset({"ALL", "ANY", "*", "EVERY", "EVERYTHING"})
#: The policy's ``method_override`` values (see :mod:`routeguard.core.override`).
OVERRIDE_MODES: Final = ("judge", "refuse", "ignored")


def method_problem(method: object) -> str | None:
    """Why ``method`` cannot name a rule's method (None: it can, case-insensitively)."""
    if not isinstance(method, str):
        return f"{method!r} is not an HTTP method"
    upper = method.strip().upper()
    if upper in KNOWN_METHODS and upper == method.upper():
        return None
    if upper in _WILDCARDS:
        return f"{method!r} is not an HTTP method; leave the key out to cover every method"
    message = f"{method!r} is not an HTTP method (RFC 9110, PATCH or WebDAV)"
    import difflib  # only for a message: most programs never need it

    close = difflib.get_close_matches(upper, sorted(KNOWN_METHODS), n=1, cutoff=0.6)
    return message + (f" (did you mean {close[0]!r}?)" if close else "")
