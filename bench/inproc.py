"""The `limit` row: call one WSGI app in-process in a tight loop, no server, no sockets.

Run as a script (the harness starts it pinned to the server CPU, with the peers venv python):
    python inproc.py MODULE METHOD BODY_SIZE SECONDS
It imports MODULE from bench/apps, builds one environ, and prints a JSON line with the number of
app calls per second (each call: fresh wsgi.input, start_response, iterate the body, close()).
"""

from __future__ import annotations

import importlib
import io
import json
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def base_environ(method: str, body_size: int) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "bench-inproc",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if body_size:
        environ["CONTENT_LENGTH"] = str(body_size)
        environ["CONTENT_TYPE"] = "application/octet-stream"
    return environ


def call_once(app: App, environ: dict[str, Any], body: bytes) -> int:
    """One request through the app; returns the number of body bytes produced."""
    env = dict(environ)
    env["wsgi.input"] = io.BytesIO(body)
    result = app(env, _start_response)
    try:
        return sum(len(chunk) for chunk in result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    return _write


def _write(data: bytes) -> None:
    return None


def measure(app: App, environ: dict[str, Any], body: bytes, seconds: float) -> float:
    """Calls per second over `seconds`, checking the clock every 100 calls."""
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    now = start
    while now < deadline:
        for _ in range(100):
            call_once(app, environ, body)
        calls += 100
        now = time.perf_counter()
    return calls / (now - start)


def main() -> None:
    module, method, body_size, seconds = sys.argv[1:5]
    sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))
    app: App = importlib.import_module(module).app
    environ = base_environ(method, int(body_size))
    body = b"x" * int(body_size)
    measure(app, environ, body, min(0.3, float(seconds)))  # warm-up
    rps = measure(app, environ, body, float(seconds))
    print(json.dumps({"rps": rps, "body_len": call_once(app, environ, body)}))


if __name__ == "__main__":
    main()
