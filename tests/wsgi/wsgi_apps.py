"""Apps wrapped in `wsgiref.validate.validator`, served by the real `pronghorn` command.

Validator warnings are turned into errors here, in the server process, so any PEP 3333
complaint becomes an exception the server logs (and a 500), which the tests look for.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from typing import Any
from wsgiref.validate import WSGIWarning, validator

warnings.simplefilter("error", WSGIWarning)

StartResponse = Callable[..., Any]
TEXT = [("Content-Type", "text/plain")]
_FILE = os.path.join(tempfile.gettempdir(), f"pronghorn-wsgi-test-{os.getpid()}.bin")


def _read_body(environ: dict[str, Any], mode: str) -> bytes:
    stream = environ["wsgi.input"]
    if mode == "read":
        return b"".join(iter(lambda: stream.read(7), b""))
    if mode == "readline":
        return b"".join(iter(lambda: stream.readline(), b""))
    if mode == "readline-n":
        return b"".join(iter(lambda: stream.readline(5), b""))
    if mode == "readlines":
        return b"".join(stream.readlines())
    return b"".join(stream)


def _raw(environ: dict[str, Any], start_response: StartResponse) -> Any:
    path = environ["PATH_INFO"]
    if path == "/body":
        body = _read_body(environ, environ["QUERY_STRING"])
        start_response("200 OK", [*TEXT, ("Content-Length", str(len(body)))])
        return [body]
    if path == "/stream":
        return _stream(start_response)
    if path == "/endless":
        return _endless(environ, start_response)
    if path == "/write":
        write = start_response("200 OK", TEXT)
        write(b"written ")
        return [b"returned"]
    if path == "/file":
        with open(_FILE, "wb") as out:
            out.write(b"file contents " * 1000)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](open(_FILE, "rb"), 4096)
    if path == "/nocontent":
        start_response("204 No Content", [])
        return []
    if path.startswith("/environ"):
        shown = {k: v for k, v in environ.items() if type(v) in (str, bool)}
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(shown).encode()]
    start_response("404 Not Found", TEXT)
    return [b"not found"]


def _stream(start_response: StartResponse) -> Iterator[bytes]:
    start_response("200 OK", TEXT)
    for i in range(3):
        yield b"part %d\n" % i


def _endless(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    try:
        for _ in range(100000):
            yield b"e" * 65536
    finally:
        environ["wsgi.errors"].write(f"finished {environ['QUERY_STRING']}\n")


app = validator(_raw)
