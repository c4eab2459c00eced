"""The built-in demo site behind `make demo`: a static page and a dynamic page.

`/` (and anything under `/static/`) are files from `site/`, served by pronghorn's static
handler when mounted with `--static /static=...`, or by this app through
`wsgi.file_wrapper` otherwise; `/dynamic` shows the request's WSGI environ and the time.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

SITE = Path(__file__).parent / "site"
_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8"}

StartResponse = Callable[..., Any]


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path = environ.get("PATH_INFO") or "/"
    if path == "/dynamic":
        return _dynamic(environ, start_response)
    name = "index.html" if path == "/" else path.removeprefix("/static/")
    file = SITE / name
    if "/" in name or not file.is_file():
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found\n"]
    content_type = _TYPES.get(file.suffix, "application/octet-stream")
    start_response("200 OK", [("Content-Type", content_type)])
    wrapper = environ["wsgi.file_wrapper"]
    result: Iterable[bytes] = wrapper(file.open("rb"))
    return result


def _dynamic(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    rows = "\n".join(
        f"<tr><th>{html.escape(key)}</th><td>{html.escape(repr(value))}</td></tr>"
        for key, value in sorted(environ.items())
    )
    now = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pronghorn: dynamic page</title>
<link rel="stylesheet" href="/static/style.css"></head>
<body><main><h1>Dynamic page</h1>
<p>Rendered by a WSGI application at <time>{html.escape(now)}</time>.</p>
<p><a href="/">Back to the static page</a></p>
<table>{rows}</table></main></body></html>
"""
    body = page.encode("utf-8")
    start_response(
        "200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")]
    )
    return [body]
