"""WSGIGuard: PEP 3333 middleware; an allowed request gets the app's own iterable back."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from .backends.bearer import offered_subprotocols, without_token
from .core.decision import Decision
from .core.firewall import INVALID_UTF8, NON_ORIGIN_FORM
from .core.request import HeaderMap, RequestView, without_cookies
from .runtime.cache import Memo
from .runtime.effects import run_sync
from .runtime.guard import Guard
from .runtime.lane import plain_path
from .runtime.throttle import wsgi_login_body

if TYPE_CHECKING:  # pydantic loads with the first Policy, not with the adapter
    from .policy.model import Policy

Environ = dict[str, Any]  # PEP 3333 (and typeshed): a builtin dict, so Flask/Django apps type-check
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

class EnvironHeaders(HeaderMap):
    """The request headers of a WSGI environ under lower-case names, read lazily (no copy)."""

    __slots__ = ("_environ",)

    def __init__(self, environ: Mapping[str, Any]) -> None:
        self._environ = environ

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value  # type: ignore[no-any-return]

    def get(self, name: str, default: Any = None) -> Any:
        key = _KEYS.get(name)
        if key is None:
            key = _environ_key(name)
            if len(_KEYS) < 1024:
                _KEYS[name] = key
        value = self._environ.get(key)
        return value if isinstance(value, str) else default

    def any_of(self, names: frozenset[str]) -> bool:
        """Whether any header of ``names`` (lower-case) is present: one set operation."""
        return not self._environ.keys().isdisjoint(_ENVIRON_KEYS(names))

    def __iter__(self) -> Iterator[str]:
        for key in self._environ:
            if key.startswith("HTTP_"):
                yield key[5:].lower().replace("_", "-")
            elif key in _SPECIAL_HEADERS:
                yield _SPECIAL_HEADERS[key]

    def __len__(self) -> int:
        return sum(1 for _ in self)


_SPECIAL_HEADERS = {"CONTENT_TYPE": "content-type", "CONTENT_LENGTH": "content-length"}
_SPECIAL_KEYS = {v: k for k, v in _SPECIAL_HEADERS.items()}


def _environ_key(name: str) -> str:
    """The environ key of header ``name`` (``HTTP_X_API_KEY``, ``CONTENT_TYPE``)."""
    return _SPECIAL_KEYS.get(name) or "HTTP_" + name.upper().replace("-", "_")


_ENVIRON_KEYS: Memo[frozenset[str], frozenset[str]] = Memo(lambda names: frozenset(map(_environ_key, names)))
_KEYS: dict[str, str] = {}  # header name -> environ key, memoized (a guard reads a few names)


def _wsgi_str(value: str) -> tuple[str, str | None]:
    """A WSGI "bytes as latin-1" string decoded as UTF-8, and the firewall class if it is not."""
    if value.isascii():  # the common case: nothing to re-decode
        return value, None
    try:
        return value.encode("latin-1").decode("utf-8"), None
    except UnicodeEncodeError:
        return value, None  # already text (some servers decode for us)
    except UnicodeDecodeError:
        return value.encode("latin-1").decode("utf-8", "replace"), INVALID_UTF8


def is_websocket_handshake(environ: Mapping[str, Any]) -> bool:
    """Whether the request asks to become a websocket (``Upgrade: websocket``, RFC 6455).

    flask-sock and other WSGI websocket libraries accept the handshake inside the app, so the
    guard must treat it as one (CSRF origin check, as ASGIGuard does). Any mention of
    ``websocket`` counts: treating a malformed header as a handshake only adds checks.
    """
    upgrade = environ.get("HTTP_UPGRADE")
    return isinstance(upgrade, str) and "websocket" in upgrade.lower()


def request_from_environ(environ: Mapping[str, Any]) -> RequestView:
    """The request view of a WSGI environ: the judged path is PATH_INFO, as werkzeug routes it.

    A non-empty PATH_INFO without a leading ``/`` (``/appadmin`` split by a server at
    ``SCRIPT_NAME=/app``) is a ``non_origin_form`` violation, judged as werkzeug reads it.
    An ``Upgrade: websocket`` request is a websocket handshake, judged with its real method.
    """
    script_name = environ.get("SCRIPT_NAME") or ""
    prefix_error = None
    if script_name:
        script_name, prefix_error = _wsgi_str(script_name)
    path_info, path_error = _wsgi_str(environ.get("PATH_INFO") or "")
    if path_info and not path_info.startswith("/"):
        path_error = path_error or NON_ORIGIN_FORM
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    return RequestView(
        method=(environ.get("REQUEST_METHOD") or "GET").upper(),
        path="/" + path_info.lstrip("/") if path_error == NON_ORIGIN_FORM else path_info or "/",
        raw_path=raw.partition("?")[0] if raw else None,
        query=environ.get("QUERY_STRING") or "",
        headers=EnvironHeaders(environ),
        prefix=script_name,
        client=environ.get("REMOTE_ADDR"),
        scheme=environ.get("wsgi.url_scheme") or "http",
        websocket=is_websocket_handshake(environ),
        path_error=path_error or prefix_error,
    )


def _logged(app: WSGIApp, environ: Environ, start_response: StartResponse, decision: Decision,
            request: RequestView, guard: Guard) -> Iterable[bytes]:
    """Call the app, logging the decision with the status it passes to ``start_response``
    (500 when it raises first). The app's own iterable is returned untouched."""
    logged = False

    def watch(status: str, headers: Any, exc_info: Any = None) -> Any:
        nonlocal logged
        if not logged:
            logged = True
            code = status.split(" ", 1)[0]
            guard.log_decision(decision, request, int(code) if code.isdigit() else None)
        return start_response(status, headers, exc_info) if exc_info is not None else start_response(status, headers)

    try:
        return app(environ, watch)
    except BaseException:
        if not logged:
            guard.log_decision(decision, request, 500)
        raise


class WSGIGuard:
    """Guards any WSGI app: ``flask_app.wsgi_app = WSGIGuard(flask_app.wsgi_app, policy=policy)``.

    Allowed requests reach the app with ``environ["routeguard.identity"]`` set (an
    :class:`Identity` or None) and the app's own iterable is returned untouched, so its
    ``close()`` still runs.
    """

    def __init__(self, app: WSGIApp, policy: Policy) -> None:
        self.app = app
        self.policy = policy
        self.guard = Guard.for_policy(policy)
        lane = self.guard.lane  # the headers the plain lane must see, as environ keys
        self._watched = _ENVIRON_KEYS(lane.watched) if lane is not None else frozenset()
        self._subprotocol = any(getattr(b, "websocket_subprotocol", False) is True for b in self.guard.backends)

    def counters(self) -> dict[tuple[int | None, str, bool], int]:
        """Decisions so far by (rule position or None, outcome, report_only), for a dashboard."""
        return self.guard.counters()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        guard = self.guard
        decision = None
        request: RequestView | None = None  # the view the pipeline judged (None: the lane decided)
        lane = guard.lane
        if lane is not None and not environ.get("SCRIPT_NAME") and "HTTP_UPGRADE" not in environ:
            path = environ.get("PATH_INFO")
            raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
            if path and (plain_path.get(path) or plain_path(path)) and (
                    not raw or raw == path or raw.partition("?")[0] == path):
                headers = None if environ.keys().isdisjoint(self._watched) else EnvironHeaders(environ)
                decision = lane.decide(environ.get("REQUEST_METHOD") or "GET", path, headers,
                                       environ.get("QUERY_STRING") or "")
        if decision is None:
            try:
                request = request_from_environ(environ)
                usernames: tuple[str, ...] | None = ()
                throttle = guard.throttle
                if throttle is not None and throttle.reads_body(request):
                    usernames = throttle.usernames(request, wsgi_login_body(environ))  # the body is put back
                decision = run_sync(guard.evaluate(request, usernames))
            except Exception as exc:
                request = RequestView(method=str(environ.get("REQUEST_METHOD", "GET")), path="?")
                decision = guard.failed(exc)
            response = guard.finish(decision, request)
            if response is not None:
                if guard.decision_log is not None:
                    guard.log_decision(decision, request, response.status, response)
                start_response(f"{response.status} {HTTPStatus(response.status).phrase}", list(response.headers))
                return [] if request.method == "HEAD" else [response.body]
            # Allowed by the pipeline: rejected cookies and a subprotocol token out of the environ
            # (the lane allows only requests with neither).
            if decision.withheld:  # rejected cookies never reach the app (RG-2026-14)
                kept = without_cookies(environ.get("HTTP_COOKIE") or "", decision.withheld)
                if kept:
                    environ["HTTP_COOKIE"] = kept
                else:
                    environ.pop("HTTP_COOKIE", None)
            if self._subprotocol and request.websocket and "HTTP_SEC_WEBSOCKET_PROTOCOL" in environ:
                _hide_subprotocol_token(environ)
        # Allowed: the identity into the environ.
        environ["routeguard.identity"] = decision.identity
        environ["routeguard.decision"] = decision
        environ["routeguard.guard"] = guard
        if request is None or guard.decision_log is None:
            return self.app(environ, start_response)
        return _logged(self.app, environ, start_response, decision, request, guard)


def _hide_subprotocol_token(environ: Environ) -> None:
    """Remove ``bearer, <token>`` from the subprotocols the app sees. (A WSGI websocket library
    answers the handshake itself, so the guard cannot echo ``bearer`` as ASGIGuard does.)"""
    remaining = without_token(offered_subprotocols(environ["HTTP_SEC_WEBSOCKET_PROTOCOL"]))
    if remaining:
        environ["HTTP_SEC_WEBSOCKET_PROTOCOL"] = ", ".join(remaining)
    else:
        del environ["HTTP_SEC_WEBSOCKET_PROTOCOL"]
