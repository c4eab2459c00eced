"""The WSGI application the server tests run under the real `pronghorn` command.

One app, routed on PATH_INFO, so one server process serves most tests. Routes take
`?tag=NAME` so a test can find its own lines in the server's error log, where the app
reports through `wsgi.errors` (e.g. "closed NAME" when its close() ran).
"""

from __future__ import annotations

import array
import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

StartResponse = Callable[..., Any]
TEXT = [("Content-Type", "text/plain")]


def _query(environ: dict[str, Any]) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}


def _note(environ: dict[str, Any], text: str) -> None:
    environ["wsgi.errors"].write(text + "\n")


class Closing:
    """A response body that reports its close() in the log."""

    def __init__(self, environ: dict[str, Any], parts: Iterator[bytes], tag: str) -> None:
        self.environ = environ
        self.parts = parts
        self.tag = tag
        self.produced = 0

    def __iter__(self) -> Iterator[bytes]:
        for part in self.parts:
            self.produced += len(part)
            yield part

    def close(self) -> None:
        _note(self.environ, f"closed {self.tag} produced={self.produced}")


def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
    path = environ["PATH_INFO"]
    q = _query(environ)
    tag = q.get("tag", "-")
    handler = ROUTES.get(path)
    if handler is None:
        start_response("404 Not Found", TEXT)
        return [b"no such route\n"]
    return handler(environ, start_response, q, tag)


def hello(
    environ: dict[str, Any], start_response: StartResponse, q: dict[str, str], tag: str
) -> Any:
    body = f"hello {environ['REQUEST_METHOD']} {tag}\n".encode()
    start_response("200 OK", [*TEXT, ("X-Tag", tag)])
    return [body]


def echo(
    environ: dict[str, Any], start_response: StartResponse, q: dict[str, str], tag: str
) -> Any:
    stream = environ["wsgi.input"]
    body = b"".join(iter(lambda: stream.read(int(q.get("piece", "65536"))), b""))
    start_response("200 OK", [*TEXT, ("X-Tag", tag), ("X-Got", str(len(body)))])
    return [body]


def noread(
    environ: dict[str, Any], start_response: StartResponse, q: dict[str, str], tag: str
) -> Any:
    start_response("200 OK", [*TEXT, ("X-Tag", tag)])
    return [b"did not read\n"]


def stream(
    environ: dict[str, Any], start_response: StartResponse, q: dict[str, str], tag: str
) -> Any:
    count, size = int(q.get("n", "3")), int(q.get("size", "5"))
    start_response("200 OK", TEXT)

    def parts() -> Iterator[bytes]:
        for i in range(count):
            yield bytes([97 + i % 26]) * size

    return Closing(environ, parts(), tag)


def endless(
    environ: dict[str, Any], start_response: StartResponse, q: dict[str, str], tag: str
) -> Any:
    """Up to 1 GiB in 64 KiB parts, for clients that stop reading or go away."""
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    delay = float(q.get("delay", "0"))

    def parts() -> Iterator[bytes]:
        block = b"x" * 65536
        for _ in range(16384):
            if delay:
                time.sleep(delay)
            yield block

    return Closing(environ, parts(), tag)


def read_in_iter(
    environ: dict[str, Any], start_response: StartResponse, q: dict[str, str], tag: str
) -> Any:
    """Reads the body while the response is iterated, so a disconnect lands in the iterator."""
    start_response("200 OK", TEXT)
    _note(environ, f"started {tag}")

    def parts() -> Iterator[bytes]:
        yield environ["wsgi.input"].read()

    return Closing(environ, parts(), tag)


def status(
    environ: dict[str, Any], start_response: StartResponse, q: dict[str, str], tag: str
) -> Any:
    code = q.get("code", "204")
    start_response(f"{code} Whatever", [("X-Tag", tag)])
    return [] if code in ("204", "304") else [b"body"]


def boom(
    environ: dict[str, Any], start_response: StartResponse, q: dict[str, str], tag: str
) -> Any:
    raise RuntimeError(f"boom {tag}")


def boom_later(
    environ: dict[str, Any], start_response: StartResponse, q: dict[str, str], tag: str
) -> Any:
    start_response("200 OK", [*TEXT, ("Content-Length", "100")] if q.get("cl") else TEXT)

    def parts() -> Iterator[bytes]:
        yield b"first part\n"
        raise RuntimeError(f"late boom {tag}")

    return Closing(environ, parts(), tag)


def slow(
    environ: dict[str, Any], start_response: StartResponse, q: dict[str, str], tag: str
) -> Any:
    _note(environ, f"started {tag}")
    time.sleep(float(q.get("s", "1")))
    start_response("200 OK", TEXT)
    return [f"slept {tag}\n".encode()]


def until_file(
    environ: dict[str, Any], start_response: StartResponse, q: dict[str, str], tag: str
) -> Any:
    """Waits up to `s` seconds for the file `path` to exist (a test makes it when it has
    received another response), and says whether it appeared."""
    path = Path(q["path"])
    deadline = time.monotonic() + float(q.get("s", "3"))
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    start_response("200 OK", TEXT)
    return [b"seen\n" if path.exists() else b"not seen\n"]


def environ_json(
    environ: dict[str, Any], start_response: StartResponse, q: dict[str, str], tag: str
) -> Any:
    shown = {k: v for k, v in environ.items() if type(v) in (str, bool, int)}
    shown["wsgi.version"] = list(environ["wsgi.version"])
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(shown).encode()]


def trailers(
    environ: dict[str, Any], start_response: StartResponse, q: dict[str, str], tag: str
) -> Any:
    lines = list(environ["wsgi.input"])
    start_response("200 OK", [*TEXT, ("X-Lines", str(len(lines)))])
    return [b"".join(lines)]


def file(
    environ: dict[str, Any], start_response: StartResponse, q: dict[str, str], tag: str
) -> Any:
    """A file_wrapper body (sendfile path); `offset` seeks first, `cl` sets Content-Length."""
    handle = open(q["path"], "rb")  # noqa: SIM115 - the server closes it through close()
    handle.seek(int(q.get("offset", "0")))
    headers = [("Content-Type", "application/octet-stream")]
    if "cl" in q:
        headers.append(("Content-Length", q["cl"]))
    start_response("200 OK", headers)
    return environ["wsgi.file_wrapper"](handle)


def big(environ: dict[str, Any], start_response: StartResponse, q: dict[str, str], tag: str) -> Any:
    """`size` bytes of `big_body` in one bytes object, with its Content-Length."""
    body = big_body(int(q["size"]))
    start_response("200 OK", [*TEXT, ("Content-Length", str(len(body))), ("X-Tag", tag)])
    return [body]


def big_body(size: int) -> bytes:
    """A body whose every 4-byte word says where it is, so misordered bytes show (each
    word is its index, big-endian). Made by `array` in C: tens of MB in a fraction of a
    second, where a Python loop over the words took seconds."""
    words = array.array("I", range((size + 3) // 4))
    assert words.itemsize == 4
    if sys.byteorder == "little":
        words.byteswap()
    return words.tobytes()[:size]


def partial(
    environ: dict[str, Any], start_response: StartResponse, q: dict[str, str], tag: str
) -> Any:
    """Reads the first `n` bytes of the body (or all of it, if shorter) and says what
    they were: their length and SHA-256."""
    stream, wanted, got = environ["wsgi.input"], int(q.get("n", "0")), b""
    while len(got) < wanted:
        piece = stream.read(min(65536, wanted - len(got)))
        if not piece:
            break
        got += piece
    start_response("200 OK", [*TEXT, ("X-Got", str(len(got)))])
    return [hashlib.sha256(got).hexdigest().encode()]


ROUTES: dict[str, Callable[..., Any]] = {
    "/partial": partial,
    "/big": big,
    "/file": file,
    "/hello": hello,
    "/echo": echo,
    "/noread": noread,
    "/stream": stream,
    "/endless": endless,
    "/read-in-iter": read_in_iter,
    "/status": status,
    "/boom": boom,
    "/boom-later": boom_later,
    "/slow": slow,
    "/until-file": until_file,
    "/environ": environ_json,
    "/lines": trailers,
}
