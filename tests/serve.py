"""Serve the session test app (tests/apps.py) on 127.0.0.1 in its own process.

    python -m tests.serve --kind asgi|wsgi --port N --store URL [--session server|starlette]
"""

from __future__ import annotations

import argparse
import os


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=["asgi", "wsgi"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--throttle", type=int, default=0, help="max failed credentials per client (0: default)")
    parser.add_argument("--username-limit", type=int, default=0, help="max failed logins per username (0: default)")
    parser.add_argument("--report", action="store_true", help='mode = "report"')
    args = parser.parse_args()
    os.environ.setdefault("RG_TEST_JWT_SECRET", "tests-jwt-secret-0123456789abcdef-0123456789abcdef")
    os.environ.setdefault("RG_TEST_SESSION_SECRET", "tests-session-secret-0123456789abcdef")

    from routeguard import ASGIGuard, WSGIGuard

    from .support import session_flask_app, session_policy, session_starlette_app

    extra = f"\n[throttle]\nmax_failures = {args.throttle}\nwindow = 60\n" if args.throttle else ""
    if args.username_limit:  # tests/support.py login bodies name the user in "user"
        extra = (extra or "\n[throttle]\n") + (
            f'username_max_failures = {args.username_limit}\nusername_window = 60\nusername_field = "user"\n')
    guard_policy = session_policy(args.store, secure=False, extra=extra, top='mode = "report"\n' if args.report else "")
    if args.kind == "asgi":
        import uvicorn

        uvicorn.run(ASGIGuard(session_starlette_app(), policy=guard_policy), host="127.0.0.1", port=args.port,
                    log_level="warning")
    else:
        from wsgiref.simple_server import WSGIRequestHandler, make_server

        class Quiet(WSGIRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

        make_server("127.0.0.1", args.port, WSGIGuard(session_flask_app().wsgi_app, policy=guard_policy),
                    handler_class=Quiet).serve_forever()


if __name__ == "__main__":
    main()
