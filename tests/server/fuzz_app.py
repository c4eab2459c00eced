"""The application the server fuzzer runs: it reads every body and says what it got.

It never fails, so any 500 is the server's. Every response names the worker (`X-Pid`,
so a restarted worker shows) and the body it read (`X-Body: LENGTH-SHA256/16`), so the
fuzzer can check that each request reached the app whole and in order.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any


def body_tag(body: bytes) -> str:
    return f"{len(body)}-{hashlib.sha256(body).hexdigest()[:16]}"


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    body = environ["wsgi.input"].read()
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("X-Pid", str(os.getpid())), ("X-Body", body_tag(body))],
    )
    return [b"ok\n"]
