"""Run `pronghorn.serve(app, **settings)` in this process, as a user's script would.

argv[1] is the settings as JSON; the app answers with its pid and path, so a test can tell
workers apart. tests/api/test_serve.py runs it as a subprocess.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from typing import Any

import pronghorn


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    body = f"pid {os.getpid()} path {environ['PATH_INFO']}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


if __name__ == "__main__":
    raise SystemExit(pronghorn.serve(app, **json.loads(sys.argv[1])))
