"""A Pyramid app: routes with placeholders, a regex placeholder, a star remainder and views with
request_method predicates."""

from __future__ import annotations

import warnings
from typing import Any

with warnings.catch_warnings():  # webob imports the deprecated cgi module
    warnings.simplefilter("ignore", DeprecationWarning)
    from pyramid.config import Configurator
    from pyramid.response import Response


def ok(request: Any) -> Response:
    return Response("ok")


def make_app() -> Any:
    with Configurator() as config:
        config.add_route("home", "/")
        config.add_route("item", "/items/{item_id}")
        config.add_route("year", "/archive/{year:\\d+}")
        config.add_route("files", "/files/*subpath")
        config.add_route("unviewed", "/nothing-here")
        config.add_route("hook", "/hook", request_method="POST")
        config.add_view(ok, route_name="hook")
        config.add_view(ok, route_name="home")
        config.add_view(ok, route_name="item", request_method="GET")
        config.add_view(ok, route_name="item", request_method=("PUT", "DELETE"))
        config.add_view(ok, route_name="year", request_method="GET")
        config.add_view(ok, route_name="files")
        return config.make_wsgi_app()


app = make_app()
