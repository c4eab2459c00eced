"""The smallest Pyramid application, made by PasteDeploy from development.ini."""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from pyramid.router import Router


def main(global_config: dict[str, str], **settings: Any) -> Router:
    """The application factory [app:main] names; `settings` are that section's keys."""
    greeting = settings.get("greeting", "Hello")

    def home(request: Request) -> Response:
        return Response(f"{greeting}\n", content_type="text/plain")

    with Configurator(settings=settings) as config:
        config.add_route("home", "/")
        config.add_view(home, route_name="home")
        return config.make_wsgi_app()
