"""The application the soak runs: bodies whose bytes the client can predict.

- `GET|HEAD /data?size=N&seed=S[&stream=1]`: `data(N, S)`, whole with a Content-Length, or
  streamed in parts (chunked).
- `POST /echo[?stream=1]`: the request body back, with its SHA-256 in `X-Sha256`.

With `SOAK_APP_LEAK_BYTES=N` in its environment it keeps N bytes of every request forever:
a leak, for the test that shows the soak's RSS verdict catches one.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

StartResponse = Callable[..., Any]
LEAK_ENV = "SOAK_APP_LEAK_BYTES"
_LEAK_BYTES = int(os.environ.get(LEAK_ENV) or 0)
_kept: list[bytes] = []


def data(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _parts(body: bytes, count: int = 3) -> Iterator[bytes]:
    step = max(1, len(body) // count + 1)
    for start in range(0, len(body), step):
        yield body[start : start + step]


def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
    if _LEAK_BYTES:
        _kept.append(os.urandom(_LEAK_BYTES))  # random: no page is shared or compressed
    query = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    stream = query.get("stream") == "1"
    path = environ["PATH_INFO"]
    if path == "/echo":
        body = environ["wsgi.input"].read()
        headers = [("X-Sha256", hashlib.sha256(body).hexdigest())]
    elif path == "/data":
        body = data(int(query["size"]), int(query["seed"]))
        headers = []
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such route\n"]
    headers.append(("Content-Type", "application/octet-stream"))
    if stream:
        start_response("200 OK", headers)
        return _parts(body)
    start_response("200 OK", [*headers, ("Content-Length", str(len(body)))])
    return [body]
