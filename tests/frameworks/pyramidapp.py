"""A Pyramid app served by pronghorn in tests/frameworks/test_pyramid.py.

The server loads it through the factory form ``pyramidapp:make_app()``.
"""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from pyramid.router import Router

FORM_PAGE = """<!doctype html>
<html><body>
<form method="post" action="/form">
  <input name="name"> <input name="colour"> <input name="colour">
  <button type="submit">Send</button>
</form>
</body></html>
"""


def json_view(request: Request) -> dict[str, Any]:
    return {
        "method": request.method,
        "path": request.path,
        "script_name": request.script_name,
        "params": {key: request.GET.getall(key) for key in request.GET},
    }


def hello_view(request: Request) -> dict[str, Any]:
    return {"name": request.matchdict["name"]}


def items_view(request: Request) -> dict[str, Any]:
    body = request.json_body
    request.response.status_int = 201
    return {"received": body, "count": len(body)}


def form_page(request: Request) -> Response:
    return Response(FORM_PAGE, content_type="text/html")


def form_post(request: Request) -> Response:
    name = request.POST.get("name", "")
    colours = request.POST.getall("colour")
    return Response(f"Hello {name} (colours: {', '.join(colours)})", content_type="text/plain")


def make_app() -> Router:
    """Build the WSGI application."""
    with Configurator() as config:
        config.add_route("json", "/json")
        config.add_route("hello", "/hello/{name}")
        config.add_route("items", "/items")
        config.add_route("form", "/form")
        config.add_view(json_view, route_name="json", renderer="json")
        config.add_view(hello_view, route_name="hello", renderer="json")
        config.add_view(items_view, route_name="items", renderer="json", request_method="POST")
        config.add_view(form_page, route_name="form", request_method="GET")
        config.add_view(form_post, route_name="form", request_method="POST")
        return config.make_wsgi_app()
