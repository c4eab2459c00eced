"""PEP 3333 response rules in `run_app`, with a ResponseSink that collects the bytes.

The sink is an implementation of our own Protocol (what the I/O layer implements for
real), not a stand-in for a library; what it collects is parsed as a real response.
"""

from __future__ import annotations

import functools
import io
import logging
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from pronghorn.channel import BodyError, ClientDisconnected
from pronghorn.http.events import RequestHead
from pronghorn.http.parser import RequestParser
from pronghorn.wsgi.environ import EnvironBuilder, ServerFacts
from pronghorn.wsgi.file_wrapper import FileWrapper
from pronghorn.wsgi.input import InputStream
from pronghorn.wsgi.runner import Outcome, run_app
from rawhttp import RawClient, Response

DATE = "Mon, 30 Nov 2026 00:00:00 GMT"
LOG = logging.getLogger("tests.wsgi.runner")
TEXT = [("Content-Type", "text/plain")]


class CollectingSink:
    def __init__(self, disconnect_after: int | None = None) -> None:
        self.data = bytearray()
        self.ops: list[Any] = []
        self.finished: bool | None = None
        self.aborted = False
        self.disconnect_after = disconnect_after
        # The objects handed over, for the tests that a body reaches the sink uncopied.
        self.written: list[bytes] = []
        self.finish_args: tuple[bytes, bytes] | None = None

    def write(self, data: bytes) -> None:
        if self.disconnect_after is not None and len(self.data) >= self.disconnect_after:
            raise ClientDisconnected("gone")
        self.data += data
        self.ops.append("write")
        self.written.append(data)

    def sendfile(self, file: BinaryIO, offset: int, count: int, head: bytes = b"") -> None:
        self.data += head
        file.seek(offset)
        self.data += file.read(count)
        self.ops.append(("sendfile", offset, count))

    def finish(self, data: bytes, keep_alive: bool, body: bytes = b"") -> None:
        assert self.finished is None and not self.aborted
        self.data += data + body
        self.finished = keep_alive
        self.finish_args = (data, body)

    def abort(self) -> None:
        self.aborted = True


class EmptySource:
    def read_some(self, max_bytes: int) -> bytes:
        return b""


class FailingSource:
    def read_some(self, max_bytes: int) -> bytes:
        raise BodyError(408, "timed out waiting for the request body")


def head_of(raw: bytes) -> RequestHead:
    head = RequestParser().feed(raw)[0]
    assert isinstance(head, RequestHead)
    return head


def run(
    app: Callable[..., Any],
    method: str = "GET",
    version: str = "1.1",
    sink: CollectingSink | None = None,
    source: Any = None,
) -> tuple[Outcome, CollectingSink, dict[str, Any]]:
    raw = f"{method} /p?q HTTP/{version}\r\nHost: h\r\n\r\n".encode()
    head = head_of(raw)
    sink = sink or CollectingSink()
    environ = EnvironBuilder(ServerFacts("h", "80")).build(
        head, ("1.2.3.4", 5), InputStream(source or EmptySource()), FileWrapper
    )
    outcome = run_app(app, environ, head, sink, DATE, LOG)
    return outcome, sink, environ


def parse(data: bytes, method: str = "GET") -> Response:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.settimeout(5.0)
        ours.sendall(data)
        ours.shutdown(socket.SHUT_WR)
        client = RawClient(theirs)
        resp = client.response(method)
        assert client.read_to_eof() == b"", "bytes after the response"
        return resp


class Body:
    """An iterable body that records close() and can fail mid-way."""

    def __init__(self, parts: list[bytes], fail_at: int | None = None) -> None:
        self.parts = parts
        self.fail_at = fail_at
        self.closed = 0

    def __iter__(self) -> Iterator[bytes]:
        for i, part in enumerate(self.parts):
            if i == self.fail_at:
                raise RuntimeError("body failed")
            yield part

    def close(self) -> None:
        self.closed += 1


def simple(
    status: str = "200 OK", headers: list[tuple[str, str]] | None = None, body: Any = None
) -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        start_response(status, TEXT if headers is None else headers)
        return [b"hello"] if body is None else body

    return app


# -- the ordinary paths ---------------------------------------------------------------


def test_list_body_gets_content_length_and_keep_alive() -> None:
    outcome, sink, _ = run(simple(body=[b"hel", b"lo"]))
    resp = parse(bytes(sink.data))
    assert (resp.status, resp.body, resp.header("Content-Length")) == (200, b"hello", "5")
    assert resp.header("Date") == DATE
    assert sink.finished is True
    assert (outcome.status, outcome.body_bytes, outcome.keep_alive) == (200, 5, True)


def streamed(*parts: bytes) -> Iterator[bytes]:
    """A body made as it is sent (a generator), as opposed to one already in memory."""
    yield from parts


def test_generator_body_is_chunked() -> None:
    outcome, sink, _ = run(simple(body=streamed(b"a", b"", b"bc")))
    resp = parse(bytes(sink.data))
    assert resp.header("Transfer-Encoding") == "chunked"
    assert resp.body == b"abc"
    assert outcome.body_bytes == 3


class InMemoryBody:
    """Like Django's HttpResponse: an iterable whose iterator runs over a list."""

    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.parts)

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("version", ["1.1", "1.0"])
def test_a_body_iterating_over_a_list_gets_a_content_length(version: str) -> None:
    body = InMemoryBody([b"a", b"", b"bc"])
    outcome, sink, _ = run(simple(body=body), version=version)
    resp = parse(bytes(sink.data))
    assert resp.header("Transfer-Encoding") is None
    assert resp.header("Content-Length") == "3"
    assert resp.body == b"abc"
    assert outcome.keep_alive is (version == "1.1") and sink.finished is outcome.keep_alive
    assert body.closed


def test_http10_generator_body_is_close_delimited() -> None:
    outcome, sink, _ = run(simple(body=streamed(b"a", b"bc")), version="1.0")
    assert sink.finished is False
    assert parse(bytes(sink.data)).body == b"abc"
    assert not outcome.keep_alive


def test_head_sends_headers_but_no_body() -> None:
    _, sink, _ = run(simple(body=iter([b"abc"])), method="HEAD")
    assert bytes(sink.data).endswith(b"\r\n\r\n")
    assert b"abc" not in sink.data


@pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified"])
def test_bodiless_statuses(status: str) -> None:
    _, sink, _ = run(simple(status=status, headers=[], body=[]))
    assert bytes(sink.data).endswith(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in sink.data


def test_headers_wait_for_the_first_non_empty_part() -> None:
    sink = CollectingSink()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", TEXT)
        yield b""
        assert sink.data == b"", "headers sent before any body"
        yield b""
        assert sink.data == b""
        yield b"x"
        assert sink.data.startswith(b"HTTP/1.1 200 OK\r\n")

    run(app, sink=sink)
    assert parse(bytes(sink.data)).body == b"x"


def test_empty_body_still_sends_headers() -> None:
    outcome, sink, _ = run(simple(body=streamed(b"", b"")))
    resp = parse(bytes(sink.data))
    assert (resp.status, resp.body) == (200, b"")
    assert outcome.status == 200


def test_start_response_may_be_called_late_by_a_generator() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("201 Created", TEXT)
        yield b"made"

    _, sink, _ = run(app)
    assert parse(bytes(sink.data)).status == 201


# -- write() -----------------------------------------------------------------------------


def test_write_callable_sends_at_once_then_the_iterable() -> None:
    sink = CollectingSink()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        write = start_response("200 OK", TEXT)
        write(b"")
        assert sink.data == b""
        write(b"one,")
        assert b"one," in sink.data
        return [b"two"]

    _, sink, _ = run(app, sink=sink)
    assert parse(bytes(sink.data)).body == b"one,two"


def test_write_of_a_str_is_an_app_error() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", TEXT)("text")
        return []

    outcome, sink, _ = run(app)
    assert parse(bytes(sink.data)).status == 500
    assert outcome.status == 500


# -- start_response rules -------------------------------------------------------------------


BAD_RESPONSES = [
    ("200 OK", [("X-A", "a\r\nSet-Cookie: evil=1")]),
    ("200 OK", [("X-A", "a\nb")]),
    ("200 OK", [("X-A", "a\rb")]),
    ("200 OK", [("X-A", "a\x00b")]),
    ("200 OK", [("X-A", "caf\u00e9 \u20ac")]),
    ("200 OK", [("X-A\r\nEvil", "1")]),
    ("200 OK", [("X A", "1")]),
    ("200 OK", [("", "1")]),
    ("200 OK\r\nX-Evil: 1", [("X-A", "1")]),
    ("200 OK\x00", []),
    ("200 \u20ac", []),
    ("200", []),
    ("20 OK", []),
    ("OK 200", []),
    ("200 OK", [("Transfer-Encoding", "chunked")]),
    ("200 OK", [("Keep-Alive", "timeout=5")]),
    ("200 OK", [("Upgrade", "h2c")]),
    ("200 OK", [("Trailer", "X")]),
    ("200 OK", [("TE", "trailers")]),
    ("200 OK", [("Proxy-Authenticate", "Basic")]),
    ("200 OK", [("Content-Length", "-1")]),
    ("200 OK", [("Content-Length", "5, 5")]),
    ("200 OK", ("X-A", "1")),
    ("200 OK", [["X-A", "1"]]),
    ("200 OK", [(b"X-A", "1")]),
    (b"200 OK", []),
]


@pytest.mark.parametrize(
    ("status", "headers"), BAD_RESPONSES, ids=[repr(r)[:40] for r in BAD_RESPONSES]
)
def test_bad_status_or_headers_are_a_500_with_nothing_of_them_on_the_wire(
    status: Any, headers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    body = Body([b"secret body"])

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Body:
        start_response(status, headers)
        return body

    with caplog.at_level(logging.ERROR, LOG.name):
        outcome, sink, _ = run(app)
    data = bytes(sink.data)
    resp = parse(data)
    assert resp.status == 500
    for needle in (b"Evil", b"evil", b"X-A", b"secret", b"h2c", b"timeout=5"):
        assert needle not in data
    assert outcome.status == 500
    assert "error handling request GET /p?q" in caplog.text


def test_connection_close_from_the_app_is_honoured() -> None:
    outcome, sink, _ = run(simple(headers=[*TEXT, ("Connection", "close")]))
    assert sink.finished is False and not outcome.keep_alive
    assert parse(bytes(sink.data)).all("Connection") == ["close"]


def test_second_start_response_without_exc_info_is_an_error() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", TEXT)
        start_response("201 Created", TEXT)
        return [b"x"]

    assert parse(bytes(run(app)[1].data)).status == 500


def test_exc_info_before_headers_replaces_the_response() -> None:
    body = Body([b"sorry"])

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Body:
        start_response("200 OK", [*TEXT, ("X-First", "1")])
        try:
            raise ValueError("oops")
        except ValueError:
            start_response("503 Service Unavailable", TEXT, sys.exc_info())
        return body

    _, sink, _ = run(app)
    resp = parse(bytes(sink.data))
    assert (resp.status, resp.body, resp.header("X-First")) == (503, b"sorry", None)
    assert body.closed == 1


def test_exc_info_after_headers_reraises_and_aborts(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[BaseException] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", TEXT)
        yield b"partial"
        try:
            raise KeyError("late")
        except KeyError:
            try:
                start_response("500 Oops", TEXT, sys.exc_info())
            except KeyError as exc:
                seen.append(exc)
                raise

    with caplog.at_level(logging.ERROR, LOG.name):
        outcome, sink, _ = run(app)
    assert seen and isinstance(seen[0], KeyError)
    assert sink.aborted and sink.finished is None
    assert b"500" not in sink.data
    assert not outcome.keep_alive
    assert "KeyError" in caplog.text


def test_body_before_start_response_is_an_error() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        yield b"too early"

    assert parse(bytes(run(app)[1].data)).status == 500


@pytest.mark.parametrize(
    "body",
    [["text"], iter(["text"]), None, [b"ok", 3]],
    ids=["str-list", "str-iter", "none", "int"],
)
def test_non_bytes_bodies_are_a_500(body: Any) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        start_response("200 OK", TEXT)
        return body

    resp = parse(bytes(run(app)[1].data))
    assert resp.status == 500
    assert b"ok" not in resp.body


# -- large bodies go to the sink uncopied -----------------------------------------------------

# What the body-64k benchmark answers (bench/apps/body_64k.py): 64 KiB in one bytes object.
BODY_64K = bytes(range(256)) * 256


def big_app(body: bytes, declared: bool = True) -> Callable[..., Any]:
    length = [("Content-Length", str(len(body)))] if declared else []
    return simple(headers=[("Content-Type", "application/octet-stream"), *length], body=[body])


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "no-length"])
@pytest.mark.parametrize("body", [BODY_64K, BODY_64K * 5], ids=["64k", "320k"])
def test_a_large_body_reaches_the_sink_uncopied(body: bytes, declared: bool) -> None:
    # Neither joined to its head (a copy in both builds) nor sliced to its own length (a
    # copy in the compiled one): the sink gets the application's own object, and sends
    # head and body in one sendmsg (pronghorn.io.socket_channel).
    outcome, sink, _ = run(big_app(body, declared))
    assert sink.finish_args is not None
    head, sent_body = sink.finish_args
    assert sent_body is body
    # (Not parse(): a socketpair's buffers are smaller than these responses.)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")
    assert f"\r\nContent-Length: {len(body)}\r\n".encode() in head
    assert bytes(sink.data) == head + body
    assert (outcome.body_bytes, sink.finished) == (len(body), True)


def test_head_and_body_are_joined_up_to_64_kib_together() -> None:
    # One small write is cheaper than a sendmsg of two buffers, and a complete response of
    # up to 64 KiB may wait for the end of the reactor's batch (pronghorn.io.outbox).
    _, probe, _ = run(big_app(BODY_64K))
    head_size = len(probe.data) - len(BODY_64K)
    fits = BODY_64K[: 65536 - head_size]
    _, joined, _ = run(big_app(fits))
    assert joined.finish_args == (bytes(joined.data), b"")
    assert len(joined.data) == 65536
    over = BODY_64K[: 65536 - head_size + 1]
    _, apart, _ = run(big_app(over))
    assert apart.finish_args is not None and apart.finish_args[1] is over


def test_a_large_written_part_reaches_the_sink_uncopied() -> None:
    body = BODY_64K * 4

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        write = start_response("200 OK", [*TEXT, ("Content-Length", str(len(body)))])
        write(body)
        return []

    outcome, sink, _ = run(app)
    assert any(part is body for part in sink.written)
    assert bytes(sink.data).endswith(b"\r\n\r\n" + body)
    assert outcome.body_bytes == len(body)


# -- Content-Length from the app -------------------------------------------------------------


def test_body_longer_than_content_length_is_cut_to_it() -> None:
    outcome, sink, _ = run(
        simple(headers=[*TEXT, ("Content-Length", "3")], body=iter([b"ab", b"cdef"]))
    )
    data = bytes(sink.data)
    assert data.endswith(b"\r\n\r\nabc")
    assert parse(data).body == b"abc"
    assert outcome.body_bytes == 3 and sink.finished is True


def test_list_body_longer_than_content_length_is_cut_to_it() -> None:
    _, sink, _ = run(simple(headers=[*TEXT, ("Content-Length", "2")], body=[b"abcdef"]))
    assert bytes(sink.data).endswith(b"\r\n\r\nab")


def test_body_shorter_than_content_length_closes_the_connection() -> None:
    outcome, sink, _ = run(simple(headers=[*TEXT, ("Content-Length", "10")], body=iter([b"abc"])))
    assert sink.finished is False
    assert not outcome.keep_alive
    assert bytes(sink.data).endswith(b"\r\n\r\nabc")


# -- close() ------------------------------------------------------------------------------


def test_close_called_after_success() -> None:
    body = Body([b"a", b"b"])
    run(simple(body=body))
    assert body.closed == 1


def test_close_called_when_the_body_fails(caplog: pytest.LogCaptureFixture) -> None:
    body = Body([b"a", b"b"], fail_at=1)
    with caplog.at_level(logging.ERROR, LOG.name):
        _, sink, _ = run(simple(body=body))
    assert body.closed == 1
    assert sink.aborted  # headers and "a" were sent: nothing better to do
    assert "RuntimeError: body failed" in caplog.text


def test_close_called_when_the_body_fails_before_any_output() -> None:
    body = Body([b"a"], fail_at=0)
    _, sink, _ = run(simple(body=body))
    assert body.closed == 1
    assert parse(bytes(sink.data)).status == 500


def test_close_called_when_the_client_disconnects() -> None:
    body = Body([b"a" * 100] * 10)
    outcome, sink, _ = run(simple(body=body), sink=CollectingSink(disconnect_after=150))
    assert body.closed == 1
    assert sink.aborted
    assert not outcome.keep_alive


def test_close_called_when_a_late_start_response_is_invalid() -> None:
    closed: list[bool] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        try:
            start_response("200 OK", [("X-A", "\n")])
            yield b"a"
        finally:
            closed.append(True)

    assert parse(bytes(run(app)[1].data)).status == 500
    assert closed == [True]


def test_exception_from_close_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    class BadClose(Body):
        def close(self) -> None:
            raise OSError("close failed")

    with caplog.at_level(logging.ERROR, LOG.name):
        _outcome, sink, _ = run(simple(body=BadClose([b"x"])))
    assert parse(bytes(sink.data)).body == b"x"
    assert "close failed" in caplog.text


def test_body_error_is_answered_with_its_status(caplog: pytest.LogCaptureFixture) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        environ["wsgi.input"].read()
        start_response("200 OK", TEXT)
        return [b"never"]

    with caplog.at_level(logging.INFO, LOG.name):
        outcome, sink, _ = run(app, source=FailingSource())
    assert parse(bytes(sink.data)).status == 408
    assert not outcome.keep_alive
    assert "408 request body error for GET /p?q from 1.2.3.4:5" in caplog.text


# -- file_wrapper ------------------------------------------------------------------------------


def file_app(
    make: Callable[[], Any], headers: list[tuple[str, str]] | None = None
) -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        start_response("200 OK", TEXT + (headers or []))
        return environ["wsgi.file_wrapper"](make(), 4096)

    return app


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 100)
    return path


def test_file_wrapper_regular_file_goes_through_sendfile(data_file: Path) -> None:
    opened: list[BinaryIO] = []

    def make() -> BinaryIO:
        file = open(data_file, "rb")  # noqa: SIM115 - closed by the server via close()
        file.seek(1000)
        opened.append(file)
        return file

    outcome, sink, _ = run(file_app(make))
    resp = parse(bytes(sink.data))
    assert resp.body == data_file.read_bytes()[1000:]
    assert resp.header("Content-Length") == str(25600 - 1000)
    assert ("sendfile", 1000, 24600) in sink.ops
    assert opened[0].closed
    assert outcome.body_bytes == 24600


def test_file_wrapper_respects_a_shorter_content_length(data_file: Path) -> None:
    _, sink, _ = run(file_app(functools.partial(open, data_file, "rb"), [("Content-Length", "10")]))
    assert parse(bytes(sink.data)).body == bytes(range(10))
    assert ("sendfile", 0, 10) in sink.ops


def test_file_wrapper_on_head_sends_no_file(data_file: Path) -> None:
    _, sink, _ = run(file_app(functools.partial(open, data_file, "rb")), method="HEAD")
    assert not any(isinstance(op, tuple) for op in sink.ops)
    assert bytes(sink.data).endswith(b"\r\n\r\n")


def test_file_wrapper_falls_back_to_iteration() -> None:
    source = io.BytesIO(b"0123456789" * 1000)
    _, sink, _ = run(file_app(lambda: source))
    resp = parse(bytes(sink.data))
    assert resp.body == b"0123456789" * 1000
    assert not any(isinstance(op, tuple) for op in sink.ops)
    assert source.closed


def test_file_wrapper_of_a_text_file_is_iterated_not_sent_raw(data_file: Path) -> None:
    class Reader:
        def __init__(self) -> None:
            self.file = open(data_file, "rb")  # noqa: SIM115
            self.closed = False

        def read(self, size: int) -> bytes:
            return self.file.read(size)

        def close(self) -> None:
            self.file.close()
            self.closed = True

    reader = Reader()
    _, sink, _ = run(file_app(lambda: reader))
    assert parse(bytes(sink.data)).body == data_file.read_bytes()
    assert reader.closed
