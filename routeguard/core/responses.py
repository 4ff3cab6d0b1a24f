"""Turn a refusal Decision into the HTTP response SPEC §4 prescribes.

Browser or API is decided from ``Accept`` alone by the ``prefers_html`` function the Responder
is given (:mod:`routeguard.runtime.accept`: a browser ranks ``text/html`` above
``application/json``). API clients get JSON and a
``WWW-Authenticate`` challenge; anonymous browsers are redirected to the login page with a
``next`` that can only point back into this site (no open redirect).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, unquote, urlencode

from .decision import Decision, Outcome
from .names import check_next_param
from .request import RequestView


@dataclass(frozen=True, slots=True)
class Response:
    """A complete guard response: status, headers (str pairs) and body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


_PHRASES: Final = {
    400: ("Bad Request", "The request path is ambiguous and was rejected."),
    401: ("Unauthorized", "You need to sign in to see this page."),
    403: ("Forbidden", "You do not have access to this page."),
    404: ("Not Found", "There is nothing here."),
    429: ("Too Many Requests", "Too many failed sign-in attempts. Try again later."),
    503: ("Service Unavailable", "Access cannot be checked right now. Try again shortly."),
}
_STATUS: Final = {
    Outcome.UNAUTHENTICATED: 401,
    Outcome.FORBIDDEN: 403,
    Outcome.NOT_FOUND: 404,
    Outcome.BAD_REQUEST: 400,
    Outcome.TOO_MANY_REQUESTS: 429,
    Outcome.UNAVAILABLE: 503,
}
_COMMON: Final = (
    ("cache-control", "no-store"),
    ("vary", "Accept"),
    ("x-content-type-options", "nosniff"),
)
_CHALLENGE: Final = "Bearer"
_INVALID_CHALLENGE: Final = 'Bearer error="invalid_token"'
_CONTROL_OR_SPACE: Final = re.compile(r"[\x00-\x20\x7f-\x9f]")
_DOUBLE_ENCODED: Final = re.compile(r"%25[0-9A-Fa-f]{2}")
_MAX_NEXT: Final = 4096
_DOT_SEGMENT: Final = re.compile(r"(?:^|/)\.\.?(?:/|$)")
# A mount prefix used in Location and cookie paths: plain segments of RFC 3986 pchars, without
# "%", ";" and "," (no escapes to decode, no cookie attribute or list separators).
_PLAIN_PREFIX: Final = re.compile(r"(?:/[A-Za-z0-9._~!$&'()*+=:@-]+)+")
# Characters a path may keep unescaped in ``next`` (RFC 3986 pchar plus "/").
_PATH_SAFE: Final = "/:@!$&'()*+,;=-._~"


#: Refusal body formats for API clients: routeguard's own, FastAPI's, RFC 9457 problem details.
FORMATS: Final = ("error", "detail", "problem")
#: The placeholders an HTML refusal template may use.
TEMPLATE_FIELDS: Final = ("status", "title")
_PLACEHOLDER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _json_body(status: int, format: str = "error") -> tuple[bytes, str]:
    title = _PHRASES[status][0]
    if format == "problem":  # RFC 9457: "about:blank" means the title is the status phrase
        problem = {"type": "about:blank", "title": title, "status": status}
        return json.dumps(problem).encode(), "application/problem+json"
    return json.dumps({format: title}).encode(), "application/json"


def _html_body(status: int) -> bytes:
    title, text = _PHRASES[status]
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{status} {title}</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;"
        "color:#222}h1{font-size:1.6em}</style></head>"
        f"<body><h1>{status} {title}</h1><p>{text}</p></body></html>\n"
    ).encode()


def check_template(template: str) -> str:
    """``template`` if every ``{placeholder}`` in it is known; ValueError naming the first other."""
    for match in _PLACEHOLDER.finditer(template):
        if match.group(1) not in TEMPLATE_FIELDS:
            known = ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
            raise ValueError(f"unknown placeholder {match.group(0)!r}; known: {known}")
    return template


def _templated(template: str, status: int) -> bytes:
    values = {"status": str(status), "title": _PHRASES[status][0]}
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template).encode()


_JSON_BODIES: Final = {status: _json_body(status) for status in _PHRASES}
_HTML_BODIES: Final = {status: _html_body(status) for status in _PHRASES}


def safe_next(value: str | None, default: str | None = "/") -> str | None:
    """``value`` if it is a same-site relative path, else ``default``.

    Kept: one leading ``/`` and no ``//`` or ``\\`` anywhere in the path, as written and once
    percent-decoded (browsers decode before they navigate). Refused: schemes (``https:x``),
    protocol-relative forms (``//host``, ``/\\host``, and ``/.//host``, which a browser
    resolves to ``//host``), dot segments, backslashes, whitespace and control characters
    anywhere, and double encoding (``%252f``) in the path.
    """
    if not isinstance(value, str) or not value or len(value) > _MAX_NEXT:
        return default
    if _CONTROL_OR_SPACE.search(value):
        return default
    path = value.partition("?")[0]
    if _DOUBLE_ENCODED.search(path):
        return default
    for view in (path, unquote(path)):
        if not view.startswith("/") or "//" in view or "\\" in view or _CONTROL_OR_SPACE.search(view):
            return default
        if _DOT_SEGMENT.search(view):
            return default
    return value


def mount_prefix(prefix: str) -> str:
    """``prefix`` (ASGI ``root_path``, WSGI ``SCRIPT_NAME``) if it is a plain same-site path,
    else ``""``.

    The prefix can come from a request header (werkzeug's ``ProxyFix(x_prefix=1)`` copies
    ``X-Forwarded-Prefix`` into ``SCRIPT_NAME``): ``//evil.example`` in front of ``/login`` would
    make ``Location`` point to another site. Only ``/seg/seg`` without dot segments is kept;
    anything else is ignored, so the redirect stays on this site.
    """
    if not prefix:
        return ""
    prefix = prefix.rstrip("/")
    if not prefix or _PLAIN_PREFIX.fullmatch(prefix) is None or _DOT_SEGMENT.search(prefix):
        return ""
    return prefix


class Responder:
    """Builds guard responses for one policy (login URL and formats fixed at construction).

    ``Responder("/login", prefers_html=accept.prefers_html, format="problem", ...)``:
    ``prefers_html`` tells a browser from an API client by its ``Accept`` header;
    ``format`` shapes API refusals (``{"error": ...}``, ``{"detail": ...}`` or RFC 9457
    ``application/problem+json``), ``html_template`` is the browser refusal page with
    ``{status}`` and ``{title}`` placeholders.
    """

    __slots__ = ("_api", "_html", "_prefers_html", "login_url", "next_param")

    def __init__(
        self,
        login_url: str | None,
        *,
        prefers_html: Callable[[str | None], bool],
        format: str = "error",
        next_param: str = "next",
        html_template: str | None = None,
    ) -> None:
        if format not in FORMATS:
            raise ValueError(f"format {format!r} is not one of {', '.join(FORMATS)}")
        self.login_url = login_url
        self._prefers_html = prefers_html
        self.next_param = check_next_param(next_param)
        self._api = _JSON_BODIES if format == "error" else {s: _json_body(s, format) for s in _PHRASES}
        if html_template is None:
            self._html = _HTML_BODIES
        else:
            template = check_template(html_template)
            self._html = {status: _templated(template, status) for status in _PHRASES}

    def is_browser(self, request: RequestView) -> bool:
        """Whether the request should get HTML and redirects rather than JSON."""
        return not request.websocket and self._prefers_html(request.headers.get("accept"))

    def render(self, decision: Decision, request: RequestView) -> Response:
        """The response for a refusal decision."""
        status = _STATUS[decision.outcome]
        browser = self.is_browser(request)
        headers: list[tuple[str, str]] = list(_COMMON)
        if status == 401:
            if browser and self.login_url is not None:
                return self._redirect(self.login_url, request, headers)
            headers.append(
                ("www-authenticate", _INVALID_CHALLENGE if decision.invalid_credentials else _CHALLENGE)
            )
        elif status == 429 and decision.retry_after is not None:
            headers.append(("retry-after", str(decision.retry_after)))
        if browser:
            body = self._html[status]
            headers.append(("content-type", "text/html; charset=utf-8"))
        else:
            body, content_type = self._api[status]
            headers.append(("content-type", content_type))
        headers.append(("content-length", str(len(body))))
        return Response(status, tuple(headers), body)

    def login_location(self, login_url: str, request: RequestView) -> str:
        """``login_url?next=<this request>`` under the mount prefix; ``next`` only if safe.

        A mount prefix that is not a plain same-site path is left out (see :func:`mount_prefix`).
        """
        prefix = mount_prefix(request.prefix)
        location = prefix + login_url
        target = quote(prefix + request.path, safe=_PATH_SAFE)
        if request.query:
            target += "?" + request.query
        next_value = safe_next(target, None)
        if next_value is None:
            return location
        return location + ("&" if "?" in location else "?") + urlencode({self.next_param: next_value})

    def _redirect(self, login_url: str, request: RequestView, headers: list[tuple[str, str]]) -> Response:
        status = 302 if request.method in ("GET", "HEAD") else 303
        headers.append(("location", self.login_location(login_url, request)))
        headers.append(("content-length", "0"))
        return Response(status, tuple(headers), b"")
