"""Framework integrations (Django, Flask, Quart, FastAPI, Litestar, Pyramid, Bottle): glue that
adapts a framework to the ASGI/WSGI guards. Framework imports live here and in the adapters only."""
