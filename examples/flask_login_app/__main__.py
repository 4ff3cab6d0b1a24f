"""Run the Flask-Login example: python -m examples.flask_login_app [--port 8002]."""

import argparse

from werkzeug.serving import run_simple

from examples.flask_login_app.app import app

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8002)
args = parser.parse_args()
print(f"routeguard Flask-Login example on http://{args.host}:{args.port}/ (users: alice, bob, root)")
run_simple(args.host, args.port, app)
