"""A small Django project served by pronghorn in tests/frameworks/test_django.py."""
