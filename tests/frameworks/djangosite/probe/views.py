"""Views of the probe app.

- form_page: GET renders a form with a CSRF token; POST echoes the name.
- upload: multipart upload (CSRF-exempt, for curl); answers size and sha256.
- stream: StreamingHttpResponse made of several chunks.
- download: FileResponse of a file in settings.FILES_DIR.
- json_view: JSON describing the request.
- whoami: what Django makes of the client and the URL (for the test behind nginx).
"""

import hashlib
from collections.abc import Iterator

from django.conf import settings
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

STREAM_CHUNKS = 5


@require_http_methods(["GET", "POST"])
def form_page(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("name", "") if request.method == "POST" else ""
    return render(request, "probe/form.html", {"name": name})


@csrf_exempt
@require_POST
def upload(request: HttpRequest) -> HttpResponse:
    uploaded = request.FILES.get("file")
    if uploaded is None:
        return HttpResponseBadRequest("no file field")
    digest = hashlib.sha256()
    size = 0
    for chunk in uploaded.chunks():
        digest.update(chunk)
        size += len(chunk)
    return JsonResponse(
        {
            "name": uploaded.name,
            "size": size,
            "sha256": digest.hexdigest(),
            "note": request.POST.get("note", ""),
        }
    )


def _stream_chunks(count: int) -> Iterator[bytes]:
    for index in range(count):
        yield f"chunk {index} {'x' * 1000}\n".encode()


@require_GET
def stream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(_stream_chunks(STREAM_CHUNKS), content_type="text/plain")


@require_GET
def download(request: HttpRequest, name: str) -> FileResponse:
    path = settings.FILES_DIR / name
    if "/" in name or name.startswith(".") or not path.is_file():
        raise Http404(name)
    return FileResponse(path.open("rb"), content_type="application/octet-stream")


def json_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "method": request.method,
            "path": request.path,
            "path_info": request.path_info,
            "query": {key: request.GET.getlist(key) for key in request.GET},
            "host": request.get_host(),
            "secure": request.is_secure(),
        }
    )


def whoami(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "remote_addr": request.META["REMOTE_ADDR"],
            "remote_port": request.META.get("REMOTE_PORT"),
            "secure": request.is_secure(),
            "scheme": request.scheme,
            "host": request.get_host(),
            "port": request.get_port(),
            "absolute_uri": request.build_absolute_uri(),
            "x_forwarded_for": request.META.get("HTTP_X_FORWARDED_FOR"),
        }
    )
