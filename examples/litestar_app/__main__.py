"""Run the Litestar example: python -m examples.litestar_app [--port 8004]."""

import argparse

import uvicorn

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8004)
args = parser.parse_args()
print(f"routeguard Litestar example on http://{args.host}:{args.port}/ (users: alice, bob, root)")
uvicorn.run("examples.litestar_app.app:app", host=args.host, port=args.port)
