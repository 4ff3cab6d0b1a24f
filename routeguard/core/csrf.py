"""Cross-site request forgery defence for cookie-authenticated requests.

A browser attaches session cookies to requests other sites make it send; bearer tokens and API
keys it never attaches on its own, so only cookie-authenticated requests are checked. An unsafe
method, or a websocket handshake (cross-site websocket hijacking), passes when the browser says
the request is same-origin (``Sec-Fetch-Site``), or, from browsers that do not send that
header, when ``Origin`` is this site or a trusted origin. A request with neither header does
not come from a browser that could be forged into sending it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from .request import RequestView

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def cross_origin(request: RequestView, trusted_origins: Collection[str]) -> str | None:
    """Why ``request`` looks cross-site (None: it does not, or its method is safe)."""
    if request.method in SAFE_METHODS and not request.websocket:
        return None  # a websocket handshake is a GET, but it opens a two-way channel: checked
    headers = request.headers
    fetch_site = headers.get("sec-fetch-site")
    origin = headers.get("origin")
    if origin is not None and origin.lower() in trusted_origins:
        return None
    if fetch_site is not None:
        if fetch_site in ("same-origin", "none"):
            return None
        return f"csrf: Sec-Fetch-Site is {fetch_site[:20]!r}"
    if origin is None:
        return None
    # Compare hosts only: behind a TLS-terminating proxy the app sees http for an https Origin.
    host = headers.get("host")
    if host is not None and origin.partition("://")[2].lower() == host.lower():
        return None
    return "csrf: Origin is not this site"
