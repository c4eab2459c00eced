"""The WSGI app the static tests run next to the mounts.

Answers "app:" + PATH_INFO for everything, except /wrapped/NAME, which sends file NAME
from $STATICAPP_FILES through `wsgi.file_wrapper` (the path Django's FileResponse takes).
"""

import os


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path.startswith("/wrapped/"):
        name = os.path.basename(path)
        file = open(os.path.join(os.environ["STATICAPP_FILES"], name), "rb")  # noqa: SIM115
        size = os.fstat(file.fileno()).st_size
        start_response(
            "200 OK",
            [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))],
        )
        return environ["wsgi.file_wrapper"](file, 65536)
    body = ("app:" + path).encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
