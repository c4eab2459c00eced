"""Scenario app for `django-json`: a single-file Django project (DEBUG off, no database)."""

from __future__ import annotations

import django
from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, JsonResponse
from django.urls import path

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-only-not-secret",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[],
    MIDDLEWARE=[],
    DATABASES={},
    USE_TZ=True,
    LOGGING_CONFIG=None,
)


def index(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"message": "Hello, World!", "server": "bench", "items": [1, 2, 3]})


urlpatterns = [path("", index)]

django.setup()
app = get_wsgi_application()
