"""Framework integrations (Django, Flask, Quart, FastAPI, Litestar, Pyramid, Bottle): glue that
joins each framework's own login, identity and idioms to the ASGI/WSGI guards.

Every module imports its framework lazily (install the extra: ``routeguard[django]``,
``routeguard[flask]``, ``routeguard[fastapi]``, ...); nothing in the core imports them.
"""
