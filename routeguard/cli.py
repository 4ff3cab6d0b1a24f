"""The ``routeguard`` console script: ``check``, ``explain``, ``routes``, ``init``, ``suggest``
and ``diff``.

Exit status: 0 success; 1 the policy has errors, the app cannot be imported, or (with
``--strict``) there are lint findings, routes falling to default deny or rules matching no
route; 2 bad command-line usage (unknown method, malformed header). Every failure is one line
on stderr, never a traceback. Policies are loaded with ``resolve_secrets=False``: no
command needs a secret in the environment, and none prints one.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from . import __version__
from .errors import ExplainInputError, RouteGuardError, UsageError

# Each command imports the modules it uses when it runs: ``routeguard check`` loads neither the
# matrix, explain, introspection nor the diff tools.
if TYPE_CHECKING:
    from .policy.model import Policy
    from .tools.introspect import AppRoute

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
#: Lint codes shown as notes: ``check --strict`` does not fail on them.
NOTE_CODES = frozenset({"report-mode"})


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) on stderr."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while routeguard's own modules load, then restored
    as it was. Importing the policy model (pydantic, its validators) creates thousands of
    long-lived objects and next to no garbage: each collection meanwhile scans them for nothing
    (issue 16: ~8M instructions of ``routeguard check``)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load_policy(path: str) -> Policy:
    with _collector_paused():
        from .policy.model import Policy

    return Policy.from_toml(path, resolve_secrets=False)


def _split(values: str | None) -> list[str]:
    return [v.strip() for v in (values or "").split(",") if v.strip()]


def _write(text: str, output: str | None, out: TextIO) -> None:
    if output is None:
        out.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise RouteGuardError(f"cannot write {output!r} ({exc.strerror})") from None
    print(f"wrote {output}", file=sys.stderr)


def _app_routes(reference: str) -> list[AppRoute]:
    """The app's routes; a route the framework matches more widely than its glob is a warning."""
    from .tools.introspect import list_routes, load_app

    routes = list_routes(load_app(reference))
    for route in routes:
        if route.warning:
            print(f"routeguard: warning: {route.source}: {_one_line(route.warning)}", file=sys.stderr)
    return routes


# -- commands ------------------------------------------------------------------------------------

def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    """Validate and lint a policy. Report mode is a deliberate migration state: it is shown as a
    note that ``--strict`` does not count; every other finding counts."""
    with _collector_paused():
        from .tools.lint import lint

    policy = _load_policy(args.file)
    findings = lint(policy)
    rules = policy.compiled_rules
    out.write(f"{args.file}: valid: {len(rules)} rule(s), mode {policy.mode}, "
              f"login_url {policy.login_url or '(none)'}\n")
    notes = [f for f in findings if f.code in NOTE_CODES]
    warnings = [f for f in findings if f.code not in NOTE_CODES]
    for finding in notes:
        out.write(f"note: {finding}\n")
    for finding in warnings:
        out.write(f"warning: {finding}\n")
    out.write(f"{len(warnings)} warning(s)\n" if warnings else "no findings\n")
    return EXIT_ERROR if warnings and args.strict else EXIT_OK


def cmd_explain(args: argparse.Namespace, out: TextIO) -> int:
    """Explain how one request is judged."""
    from .core.identity import Identity
    from .tools.explain import explain, render_json, render_text

    policy = _load_policy(args.file)
    wants_identity = args.subject or args.roles or args.tenants or args.permissions
    identity = None
    if wants_identity:
        identity = Identity.of(args.subject or "someone", roles=_split(args.roles), tenants=_split(args.tenants),
                               permissions=_split(args.permissions), backend="explain")
    if identity is not None and args.invalid_credentials:
        raise UsageError("--invalid-credentials cannot be combined with an identity")
    try:
        result = explain(policy, args.method, args.path, headers=args.header or (), identity=identity,
                         invalid_credentials=args.invalid_credentials)
    except ExplainInputError as exc:
        raise UsageError(str(exc)) from None
    out.write(render_json(result) if args.format == "json" else render_text(result))
    return EXIT_OK


def cmd_routes(args: argparse.Namespace, out: TextIO) -> int:
    """List the app's routes with the rule deciding each: the permission matrix."""
    from .tools import matrix as mx
    from .tools.introspect import AppImportError
    from .tools.matrix_html import render_html
    from .tools.suggest import observed_routes
    from .tools.traffic import overlay, read_log

    policy = _load_policy(args.rules)  # first: a bad policy should not wait for an app import
    observations = read_log(args.log) if args.log else None
    try:
        routes = _app_routes(args.app)
    except AppImportError as exc:
        if not observations:
            raise
        print(f"routeguard: warning: {_one_line(str(exc)).split(';')[0]}; showing the routes seen in {args.log}",
              file=sys.stderr)
        routes = observed_routes(observations)
    result = mx.build(routes, policy, app=args.app, source=args.rules)
    traffic = None
    if observations is not None:
        traffic = overlay([(row.route.path, row.method) for row in result.rows], result.identities, observations,
                          policy)
    if args.format == "html":
        text = render_html(result, traffic=traffic)
    elif args.format == "json":
        data = mx.to_json(result)
        if traffic is not None:
            for i, row in enumerate(data["routes"]):
                row["traffic"] = {name: {"requests": t.requests, "would_refuse": t.refused}
                                  for (j, name), t in traffic.items() if j == i}
        import json

        text = json.dumps(data, indent=2) + "\n"
    else:
        text = {"table": mx.render_table, "markdown": mx.render_markdown}[args.format](result)
    _write(text, args.output, out)
    problems = bool(result.default_deny_rows or result.unused_rules)
    return EXIT_ERROR if problems and args.strict else EXIT_OK


def cmd_init(args: argparse.Namespace, out: TextIO) -> int:
    """Print a starter policy for an app."""
    from .tools.starter import starter_policy

    routes = _app_routes(args.app)
    _write(starter_policy(routes, args.app), args.output, out)
    return EXIT_OK


def cmd_suggest(args: argparse.Namespace, out: TextIO) -> int:
    """Print a policy learned from a decision log; would-be refusals of ``--rules`` on stderr."""
    from .tools.suggest import render_policy, suggested_rules, would_refuse
    from .tools.traffic import read_log

    policy = _load_policy(args.rules) if args.rules else None
    observations = read_log(args.from_log)
    rules = suggested_rules(observations)
    if not rules:
        raise RouteGuardError(f"{args.from_log}: the app answered no logged request with success; nothing to grant")
    _write(render_policy(rules, args.from_log, len(observations)), args.output, out)
    if policy is not None:
        refusals = would_refuse(observations, policy)
        if refusals:
            print(f"# requests the app answered with success that {args.rules} would refuse when enforced:",
                  file=sys.stderr)
            for line in refusals:
                print(f"# {line}", file=sys.stderr)
        else:
            print(f"# {args.rules} refuses none of the requests the app answered with success", file=sys.stderr)
    return EXIT_OK


def cmd_diff(args: argparse.Namespace, out: TextIO) -> int:
    """The cells of the permission matrix that change between two policies."""
    from .tools import diff
    from .tools.matrix_html import render_diff_html

    old, new = diff.load_policy(args.old), diff.load_policy(args.new)
    routes = _app_routes(args.app)
    changes, _, after = diff.compare(routes, old, new)
    if args.format == "html":
        text = render_diff_html(changes, after, args.old, args.new)
    else:
        text = {"table": diff.render_table, "markdown": diff.render_markdown, "json": diff.render_json}[args.format](
            changes)
    _write(text, args.output, out)
    return EXIT_ERROR if args.strict and any(c.widens for c in changes) else EXIT_OK


# -- parser --------------------------------------------------------------------------------------

def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests). With ``command`` (a name in
    :data:`COMMANDS`), the parser has that command's sub-parser alone: what :func:`main` parses
    a command line with once its first word names the command, so ``routeguard check`` builds
    none of the other commands' parsers (issue 16: start-up). Such a line parses the same."""
    parser = _Parser(prog="routeguard", description="Default-deny access control: check, explain and "
                     "map a routeguard policy.")
    parser.add_argument("--version", action="version", version=f"routeguard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, add in COMMANDS.items():
        if command is None or name == command:
            add(sub)
    return parser


def _add_check(sub: argparse._SubParsersAction[_Parser]) -> None:
    check = sub.add_parser("check", help="validate and lint a policy file",
                           description="Validate a policy and report shadowed, duplicate and "
                           "over-wide public rules.")
    check.add_argument("file", metavar="FILE", help="the policy (TOML)")
    check.add_argument("--strict", action="store_true", help="exit 1 on any finding except the report-mode note")
    check.set_defaults(handler=cmd_check)


def _add_explain(sub: argparse._SubParsersAction[_Parser]) -> None:
    exp = sub.add_parser("explain", help="show how one request is judged",
                         description="Firewall verdict, matching rule and parameters, outcome and "
                         "the response the client would get.")
    exp.add_argument("file", metavar="FILE", help="the policy (TOML)")
    exp.add_argument("method", metavar="METHOD", help="HTTP method, e.g. GET")
    exp.add_argument("path", metavar="PATH", help="raw request target, percent-encoded, query allowed")
    exp.add_argument("--header", "-H", action="append", metavar="'NAME: VALUE'",
                     help="a request header, e.g. 'Accept: text/html' (repeatable)")
    exp.add_argument("--subject", help="the identity's subject (default: anonymous)")
    exp.add_argument("--roles", help="comma-separated roles")
    exp.add_argument("--tenants", help="comma-separated tenants")
    exp.add_argument("--permissions", help="comma-separated permissions (scopes)")
    exp.add_argument("--invalid-credentials", action="store_true",
                     help="the client presented a credential that was rejected")
    exp.add_argument("--format", choices=("text", "json"), default="text")
    exp.set_defaults(handler=cmd_explain)


def _add_routes(sub: argparse._SubParsersAction[_Parser]) -> None:
    routes = sub.add_parser("routes", help="the permission matrix of an app",
                            description="List every route of MODULE:APP with the rule that decides it "
                            "and what each identity gets.")
    routes.add_argument("app", metavar="MODULE:APP", help="e.g. myproject.main:app")
    routes.add_argument("--rules", required=True, metavar="FILE", help="the policy (TOML)")
    routes.add_argument("--format", choices=("table", "markdown", "json", "html"), default="table")
    routes.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    routes.add_argument("--log", metavar="FILE", help="a decision log: requests seen and would-be refusals per "
                        "cell (and the routes seen, when the app's own cannot be read)")
    routes.add_argument("--strict", action="store_true",
                        help="exit 1 when a route falls to default deny or a rule matches no route")
    routes.set_defaults(handler=cmd_routes)


def _add_init(sub: argparse._SubParsersAction[_Parser]) -> None:
    init = sub.add_parser("init", help="write a starter policy for an app",
                          description="Print a conservative starter policy (report mode) covering "
                          "every route of MODULE:APP.")
    init.add_argument("app", metavar="MODULE:APP", help="e.g. myproject.main:app")
    init.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    init.set_defaults(handler=cmd_init)


def _add_suggest(sub: argparse._SubParsersAction[_Parser]) -> None:
    suggest = sub.add_parser("suggest", help="a policy learned from a decision log",
                             description="Print a policy (TOML) covering the traffic in a decision log: the "
                             "narrowest requirement per route group that covers every identity the app answered "
                             "with success. With --rules, list on stderr what that policy would refuse.")
    suggest.add_argument("--from-log", required=True, metavar="FILE", help="the decision log (JSON lines)")
    suggest.add_argument("--rules", metavar="POLICY", help="the current policy: show its would-be refusals")
    suggest.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    suggest.set_defaults(handler=cmd_suggest)


def _add_diff(sub: argparse._SubParsersAction[_Parser]) -> None:
    dif = sub.add_parser("diff", help="what a policy change does to access",
                         description="Judge two policies on the same app and print every cell of the permission "
                         "matrix that changes (route, method, identity: before -> after). OLD or NEW may be "
                         "REV:PATH to read a policy from git.")
    dif.add_argument("app", metavar="MODULE:APP", help="e.g. myproject.main:app")
    dif.add_argument("old", metavar="OLD", help="the policy before (a file, or REV:PATH)")
    dif.add_argument("new", metavar="NEW", help="the policy after (a file, or REV:PATH)")
    dif.add_argument("--strict", action="store_true", help="exit 1 when any cell widens access")
    dif.add_argument("--format", choices=("table", "markdown", "json", "html"), default="table")
    dif.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    dif.set_defaults(handler=cmd_diff)


#: Each command's name and the function adding its sub-parser, in ``--help`` order.
COMMANDS: dict[str, Callable[[argparse._SubParsersAction[_Parser]], None]] = {
    "check": _add_check,
    "explain": _add_explain,
    "routes": _add_routes,
    "init": _add_init,
    "suggest": _add_suggest,
    "diff": _add_diff,
}


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the console script; returns the exit status."""
    out = out or sys.stdout
    try:
        words = sys.argv[1:] if argv is None else list(argv)
        args = build_parser(words[0] if words and words[0] in COMMANDS else None).parse_args(words)
        status: int = args.handler(args, out)
        out.flush()
        return status
    except UsageError as exc:
        print(f"routeguard: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RouteGuardError as exc:
        print(f"routeguard: error: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `routeguard routes ... | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # never a traceback: one line, and the type for a bug report
        print(f"routeguard: internal error: {type(exc).__name__}: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_ERROR


def _one_line(text: str) -> str:
    return " ".join(text.split())


def run() -> NoReturn:
    """The ``routeguard`` console script (and ``python -m routeguard.cli``): :func:`main`, then
    exit with its status."""
    status = main()
    # The process ends here. CPython collects once more at shutdown, and that collection walks
    # every object still alive (pydantic's classes and validators, the policy) to find next to
    # no garbage; frozen objects are skipped (issue 16: about 8 % of ``routeguard check``'s CPU
    # time). The output is flushed, and no command leaves work to a finalizer.
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":
    run()
