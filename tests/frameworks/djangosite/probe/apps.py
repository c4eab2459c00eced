"""App configuration of the probe app."""

from django.apps import AppConfig


class ProbeConfig(AppConfig):
    name = "djangosite.probe"
