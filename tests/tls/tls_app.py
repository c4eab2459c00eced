"""The application the TLS tests serve: routes that show what a request over TLS sees.

`/` says hello; `/environ` answers the environ's TLS-related keys as JSON; `/echo` answers
the request body and its SHA-256; `/slow?SECONDS` sleeps first (a request in flight during
a reload).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

KEYS = (
    "wsgi.url_scheme", "HTTPS", "SERVER_PORT", "SSL_PROTOCOL", "SSL_CIPHER",
    "SSL_CLIENT_VERIFY", "SSL_CLIENT_S_DN", "SSL_CLIENT_I_DN", "SSL_CLIENT_CERT",
    "SSL_CLIENT_M_SERIAL", "SSL_CLIENT_V_START", "SSL_CLIENT_V_END",
)  # fmt: skip


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    path = environ["PATH_INFO"]
    headers = [("Content-Type", "text/plain")]
    if path == "/environ":
        body = json.dumps({key: environ.get(key) for key in KEYS}).encode()
        headers = [("Content-Type", "application/json")]
    elif path == "/echo":
        body = environ["wsgi.input"].read()
        headers.append(("X-Sha256", hashlib.sha256(body).hexdigest()))
    elif path == "/slow":
        time.sleep(float(environ["QUERY_STRING"] or "1"))
        body = b"slow done\n"
    else:
        body = b"hello over " + environ["wsgi.url_scheme"].encode() + b"\n"
    start_response("200 OK", [*headers, ("Content-Length", str(len(body)))])
    return [body]
