"""Run the FastAPI example: python -m examples.fastapi_app [--port 8000]."""

import argparse

import uvicorn

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8000)
args = parser.parse_args()
print(f"routeguard FastAPI example on http://{args.host}:{args.port}/ (users: alice, bob, root)")
uvicorn.run("examples.fastapi_app.app:app", host=args.host, port=args.port)
