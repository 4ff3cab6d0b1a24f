"""Content negotiation for refusals: browser or API client, from ``Accept`` alone.

werkzeug's parser (q-values honoured) lives here, outside the pure core: the core's
:class:`~routeguard.core.responses.Responder` is handed this function when a policy is built.
"""

from __future__ import annotations

from functools import lru_cache

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header


@lru_cache(maxsize=256)
def prefers_html(accept: str | None) -> bool:
    """True when ``Accept`` ranks text/html strictly above application/json."""
    if not accept:
        return False
    parsed = parse_accept_header(accept, MIMEAccept)
    return parsed.quality("text/html") > parsed.quality("application/json")
