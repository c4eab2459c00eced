"""URL routes of the test project: the admin plus the probe app's views."""

from django.contrib import admin
from django.urls import path

from djangosite.probe import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("form/", views.form_page, name="form"),
    path("upload/", views.upload, name="upload"),
    path("stream/", views.stream, name="stream"),
    path("file/<str:name>", views.download, name="download"),
    path("json/", views.json_view, name="json"),
    path("whoami/", views.whoami, name="whoami"),
]
