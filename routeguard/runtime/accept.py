"""Content negotiation for refusals: browser or API client, from ``Accept`` alone.

werkzeug's parser (q-values honoured) lives here, outside the pure core: the core's
:class:`~routeguard.core.responses.Responder` is handed this function when a policy is built.
"""

from __future__ import annotations

from .cache import Memo, short


def _prefers_html(accept: str | None) -> bool:
    if not accept:
        return False
    # Imported on the first Accept header, not with the guard: werkzeug's package loads its
    # test client and dev server.
    from werkzeug.datastructures import MIMEAccept
    from werkzeug.http import parse_accept_header

    parsed = parse_accept_header(accept, MIMEAccept)
    return parsed.quality("text/html") > parsed.quality("application/json")


#: True when ``Accept`` ranks text/html strictly above application/json (memoised per header).
prefers_html: Memo[str | None, bool] = Memo(_prefers_html, maxsize=256, keep=short)
