"""Method override: the methods a request may be turned into inside the app.

Flask's documented ``HTTPMethodOverrideMiddleware`` (and Rails', Symfony's, express's
``method-override``) let ``POST`` + ``X-HTTP-Method-Override: DELETE`` run as a DELETE. Behind
the guard that is a bypass: the guard judged a POST, the app ran a DELETE. So the guard reads
every method a request names (``X-HTTP-Method-Override``, ``X-HTTP-Method``,
``X-Method-Override`` headers, ``_method`` in the query string) and the request passes only when
the rules allow the real method and each named one (policy ``method_override = "judge"``, the
default). ``"refuse"`` answers 400 to any request naming another method; ``"ignored"`` is for
apps that honour none of these. A ``_method`` form field in a request body is not read.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qsl

from .methods import method_problem
from .request import RequestView

OVERRIDE_HEADERS: Final = ("x-http-method-override", "x-http-method", "x-method-override")
_HEADER_1, _HEADER_2, _HEADER_3 = OVERRIDE_HEADERS


class OverrideError(ValueError):
    """A method override names something that is not an HTTP method (the request is refused)."""


def override_methods(request: RequestView) -> tuple[str, ...]:
    """The methods other than ``request.method`` the request asks to be turned into.

    Raises :class:`OverrideError` when a value is not an HTTP method: what the app would do
    with it is unknown, so the request is refused (fail closed).
    """
    get = request.headers.get
    first, second, third = get(_HEADER_1), get(_HEADER_2), get(_HEADER_3)
    query = request.query
    escaped = bool(query) and ("_method" in query or "%" in query)  # any letter may be escaped: _%6Dethod (RG-2026-30)
    if first is None and second is None and third is None and not escaped:
        return ()  # the common case: nothing named, nothing allocated
    values = [value for value in (first, second, third) if value is not None]
    if escaped:
        values += [value for key, value in parse_qsl(query, keep_blank_values=True) if key == "_method"]
    if not values:
        return ()
    found: list[str] = []
    for value in values:
        for part in value.split(","):  # a repeated header arrives joined with commas
            method = part.strip()
            if not method:
                continue
            if method_problem(method) is not None:
                raise OverrideError("method override: not an HTTP method")
            method = method.upper()
            if method != request.method and method not in found:
                found.append(method)
    return tuple(found)
