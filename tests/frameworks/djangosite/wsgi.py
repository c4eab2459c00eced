"""WSGI entry point of the test project, as `django-admin startproject` makes it."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangosite.settings")

application = get_wsgi_application()
