"""``routeguard init``: a starter policy for an existing app, written as commented TOML.

Conservative by construction: every route the app has gets a rule requiring an
authenticated identity, except well-known public paths (health checks, the login page,
static files, ``favicon.ico``, ``robots.txt``, ``/.well-known/``). ``mode = "report"`` lets a
migration start by logging what would be refused instead of refusing it. The output loads
with :meth:`routeguard.Policy.from_toml_string` and lints clean of shadowed rules: rules are
ordered most specific first, as werkzeug orders routes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final

from ..core.rules import ANY, LITERAL, ONE, parse_pattern
from .introspect import AppRoute

#: Whole paths that are public on almost every site.
PUBLIC_PATHS: Final = frozenset({
    "/health", "/healthz", "/health/live", "/health/ready", "/livez", "/readyz", "/ping", "/status",
    "/login", "/signin", "/sign-in", "/logout", "/signout", "/sign-out", "/favicon.ico", "/robots.txt",
    "/sitemap.xml", "/manifest.json", "/apple-touch-icon.png",
})
#: Last segments that name a public endpoint wherever it sits (``/api/token``, ``/auth/login``)
#: when the whole path is literal.
PUBLIC_NAMES: Final = frozenset({
    "health", "healthz", "livez", "readyz", "ping", "login", "signin", "sign-in", "logout", "signout",
    "sign-out", "token",
})
#: First segments whose whole subtree is public static content.
PUBLIC_PREFIXES: Final = frozenset({"static", "assets", ".well-known"})
LOGIN_PATHS: Final = ("/login", "/signin", "/sign-in", "/accounts/login", "/auth/login")


def is_well_known_public(path: str) -> bool:
    """True for paths that starter policies make public."""
    segments = parse_pattern(path)
    if segments and segments[0].kind == LITERAL and segments[0].value in PUBLIC_PREFIXES:
        return True
    if segments and all(s.kind == LITERAL for s in segments) and segments[-1].value in PUBLIC_NAMES:
        return True
    return path in PUBLIC_PATHS


def _specificity(path: str) -> tuple[tuple[int, str], ...]:
    """Sort key: literals before parameters before ``**``, segment by segment; longer first."""
    order = {LITERAL: 0, ONE: 1, ANY: 2}
    key = tuple((order[s.kind], s.value if s.kind == LITERAL else "") for s in parse_pattern(path))
    return (*key, (-1, ""))  # a shorter path ends before "**" of a longer one


def _toml_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def starter_policy(routes: Sequence[AppRoute], app: str) -> str:
    """The TOML text of a starter policy covering ``routes``."""
    grouped: dict[tuple[str, bool], dict[str, None]] = {}
    sources: dict[tuple[str, bool], list[str]] = {}
    any_method: set[tuple[str, bool]] = set()
    for route in routes:
        key = (route.path, is_well_known_public(route.path))
        grouped.setdefault(key, {})
        sources.setdefault(key, [])
        label = f"{route.endpoint} ({route.source})" if route.kind != "websocket" else f"websocket {route.endpoint}"
        if label not in sources[key]:
            sources[key].append(label)
        if route.methods is None:
            any_method.add(key)
        else:
            grouped[key].update(dict.fromkeys(route.methods))
    public_gets = {path for (path, public), methods in grouped.items()
                   if public and ("GET" in methods or (path, public) in any_method)}
    login = next((p for p in LOGIN_PATHS if p in public_gets), None)

    out = [
        f"# routeguard starter policy for {app}, written by `routeguard init`.",
        "# Every route of the app has a rule below; anything else is refused (default deny).",
        "# Routes need an authenticated identity unless they are well-known public paths.",
        "# Review each rule, add roles = [...] where only some users belong, then run",
        "# `routeguard check` and `routeguard routes` to see the permission matrix.",
        "",
        '# Start in report mode: refusals are logged ("would refuse") but not enforced.',
        '# Switch to "enforce" once the log shows only refusals you expect.',
        'mode = "report"',
    ]
    if login:
        out.append(f"login_url = {json.dumps(login)}    # anonymous browsers are sent here")
    else:
        out.append('# login_url = "/login"    # set it to your login page (it must be public)')
    out += [
        "",
        "# Authentication: uncomment the backends your app uses. Secrets come from the environment.",
        "# [auth.bearer]",
        '# algorithms = ["HS256"]',
        '# secret_env = "APP_JWT_SECRET"',
        "#",
        "# [auth.session]",
        '# format = "starlette"            # or "flask": reads the session cookie your app writes',
        '# secret_env = "APP_SESSION_SECRET"',
    ]
    for key in sorted(grouped, key=lambda k: (_specificity(k[0]), not k[1])):
        path, public = key
        methods = sorted(grouped[key])
        out += ["", f"# {', '.join(sources[key])}"]
        out += ["[[rules]]", f"path = {json.dumps(path)}"]
        if key not in any_method:
            out.append(f"methods = {_toml_list(methods)}")
        if public:
            out.append('access = "public"        # well-known public path')
        else:
            out.append('access = "authenticated"  # add roles = ["..."] to narrow it')
    out.append("")
    return "\n".join(out)
