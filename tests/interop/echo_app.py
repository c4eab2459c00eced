"""The WSGI application behind pronghorn in the interop tests: it reports what it received.

For every request it reads `wsgi.input` to the end and answers 200 with a JSON object: the
method, the target (`REQUEST_URI`), the length and SHA-256 of the body it read, and the
framing headers it was given. It also appends the same object as one line to the file named
by `PRONGHORN_INTEROP_LOG`, so a test can see every request that reached the app, including
one that the proxy in front never answered to its client.

`/__fence/N` is a request the tests send straight to pronghorn after each case; its line
closes that case's window in the log, and a marker it writes to `wsgi.errors` closes the
window in pronghorn's own log. `?pad=N` pads the JSON answer with spaces to N bytes,
for the keep-alive sequence that needs responses of a given size.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

LOG_ENV = "PRONGHORN_INTEROP_LOG"
FENCE_PREFIX = "/__fence/"
StartResponse = Callable[..., Any]


def _record(environ: dict[str, Any]) -> dict[str, Any]:
    stream = environ["wsgi.input"]
    digest = hashlib.sha256()
    length = 0
    # Read in pieces until EOF, as an app that trusts CONTENT_LENGTH alone would not.
    for piece in iter(lambda: stream.read(65536), b""):
        digest.update(piece)
        length += len(piece)
    return {
        "method": environ["REQUEST_METHOD"],
        "target": environ.get("REQUEST_URI", environ["PATH_INFO"]),
        "length": length,
        "sha256": digest.hexdigest(),
        "content_length": environ.get("CONTENT_LENGTH", ""),
        "transfer_encoding": environ.get("HTTP_TRANSFER_ENCODING", ""),
        "expect": environ.get("HTTP_EXPECT", ""),
    }


def fence_marker(name: str) -> str:
    """What fence `name` writes to pronghorn's error log (through `wsgi.errors`)."""
    return f"interop fence {name}.\n"


def _append(line: str) -> None:
    # One process, one thread (--threads 1): lines cannot interleave.
    with open(os.environ[LOG_ENV], "a", encoding="utf-8") as log:
        log.write(line + "\n")


def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    record = _record(environ)
    if environ["PATH_INFO"].startswith(FENCE_PREFIX):
        record["fence"] = environ["PATH_INFO"][len(FENCE_PREFIX) :]
        environ["wsgi.errors"].write(fence_marker(record["fence"]))
        environ["wsgi.errors"].flush()
    _append(json.dumps(record, sort_keys=True))
    body = json.dumps(record, sort_keys=True).encode()
    pad = parse_qs(environ.get("QUERY_STRING", "")).get("pad")
    if pad:
        body = body.ljust(int(pad[0]), b" ")
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
