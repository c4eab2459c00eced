"""`--protocol uwsgi` over real sockets, TCP and Unix, with raw packets (the nginx side is
tests/interop/test_uwsgi_nginx.py): one request per connection and a response delimited by
the close, the environ and access log naming the client the packet names, static mounts,
bodies and their limits, and every broken packet answered or closed with one log line; peers
outside --uwsgi-allow-from closed before a byte is read."""

from __future__ import annotations

import json
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from server_setup import BODY_LIMIT, SHARED_OPTIONS, app_args

from rawhttp import wait_until
from serverproc import Serve, ServerPool, ServerProcess
from uwsgipacket import nginx_variables, packet

TIMEOUT = 5.0
CLIENT = ("203.0.113.9", 54321)  # the client the packets name (nginx's $remote_addr)


@dataclass
class Answer:
    status: int
    head: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Uwsgi:
    server: ServerProcess
    unix: Path

    def address(self, over: str) -> tuple[int, Any]:
        if over == "unix":
            return socket.AF_UNIX, str(self.unix)
        return socket.AF_INET, (self.server.host, self.server.port)


def read_to_close(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes, within the timeout."""
    data = b""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        piece = sock.recv(65536)
        if not piece:
            return data
        data += piece
    raise AssertionError(f"the server did not close; got {data[:200]!r}")


def parse(data: bytes) -> Answer:
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, data
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.lower()] = value.strip()
    return Answer(int(lines[0].split()[1]), head.decode("latin-1"), headers, body)


def exchange(site: Uwsgi, wire: bytes, over: str = "tcp") -> bytes:
    family, address = site.address(over)
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.connect(address)
        sock.sendall(wire)
        return read_to_close(sock)


def ask(
    site: Uwsgi, method: str, uri: str, over: str = "tcp", body: bytes = b"", **kw: Any
) -> Answer:
    return parse(exchange(site, packet(nginx_variables(method, uri, body=body, **kw), body), over))


@pytest.fixture(scope="module")
def site(serve_module: Serve, tmp_path_factory: pytest.TempPathFactory) -> Uwsgi:
    files = tmp_path_factory.mktemp("uwsgi-static")
    (files / "a.txt").write_bytes(b"static a\n")
    unix = tmp_path_factory.mktemp("uwsgi-unix") / "u.sock"
    args = app_args(
        *SHARED_OPTIONS, "--protocol", "uwsgi", "--access-logfile", "-",
        "--static", f"/s={files}", "-b", f"unix:{unix}",
    )  # fmt: skip
    server = serve_module(*args)
    assert wait_until(unix.is_socket, 5.0)
    return Uwsgi(server, unix)


def log_after_sentinel(site: Uwsgi, detail: str = "", count: int = 0) -> str:
    """The error log once everything sent before has been handled (a request is answered
    after it: one worker, requests on a connection of their own each, served in order of
    arrival does not hold; so wait for the sentinel's access-log line). The access log is
    on stdout, the error log on stderr, each read by its own thread here: a line written
    before the sentinel's may still be in its pipe, so wait too until `detail` is in the
    error log `count` times (more would be seen, and fail the caller's count)."""
    tag = secrets.token_hex(4)
    assert ask(site, "GET", f"/hello?tag={tag}").status == 200
    site.server.wait_for_stdout(f"tag={tag}")
    wait_until(lambda: site.server.log_text().count(detail) >= count, TIMEOUT)
    return site.server.log_text()


@pytest.mark.parametrize("over", ["tcp", "unix"])
def test_one_request_then_the_server_closes(site: Uwsgi, over: str) -> None:
    answer = ask(site, "GET", "/hello?tag=one", over)
    assert answer.status == 200
    assert answer.body == b"hello GET one\n"
    assert answer.headers["content-length"] == str(len(answer.body))
    assert answer.headers["connection"] == "close"
    assert answer.head.startswith("HTTP/1.1 200 OK\r\n")


def test_a_second_packet_on_the_connection_is_not_served(site: Uwsgi) -> None:
    tag = secrets.token_hex(4)
    wire = packet(nginx_variables("GET", "/hello?tag=first")) + packet(
        nginx_variables("GET", f"/hello?tag={tag}")
    )
    answer = parse(exchange(site, wire))
    assert answer.body == b"hello GET first\n"
    assert f"tag={tag}" not in log_after_sentinel(site) + site.server.stdout_text()


def test_the_environ_is_what_the_packet_says(site: Uwsgi) -> None:
    answer = ask(site, "GET", "/environ?a=%2F", https=True, remote=CLIENT)
    environ = json.loads(answer.body)
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("203.0.113.9", "54321")
    assert environ["wsgi.url_scheme"] == "https"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("example.com", "443")
    assert (environ["PATH_INFO"], environ["QUERY_STRING"]) == ("/environ", "a=%2F")
    assert environ["REQUEST_URI"] == "/environ?a=%2F"


def test_the_access_log_names_the_client(site: Uwsgi) -> None:
    tag = secrets.token_hex(4)
    ask(site, "GET", f"/hello?tag={tag}", remote=CLIENT)
    ask(site, "GET", f"/s/a.txt?tag={tag}", remote=("198.51.100.7", 1))
    out = site.server.wait_for_stdout(f"/s/a.txt?tag={tag}")
    lines = [line for line in out.splitlines() if f"tag={tag}" in line]
    assert lines[0].startswith("203.0.113.9 - - [")
    assert f'"GET /hello?tag={tag} HTTP/1.1" 200 ' in lines[0]
    assert lines[1].startswith("198.51.100.7 - - [")  # a static file: no app saw it


def test_a_streamed_response_is_delimited_by_the_close(site: Uwsgi) -> None:
    answer = ask(site, "GET", "/stream?n=3&size=5")
    assert answer.status == 200
    assert "transfer-encoding" not in answer.headers  # nginx would pass chunks on as body
    assert "content-length" not in answer.headers
    assert answer.body == b"aaaaabbbbbccccc"


@pytest.mark.parametrize(
    ("method", "uri", "status", "body"),
    [
        ("HEAD", "/hello", 200, b""),
        ("GET", "/status?code=204", 204, b""),
        ("GET", "/status?code=304", 304, b""),
        ("GET", "/boom", 500, b"500 Internal Server Error\n"),
        ("GET", "/nowhere", 404, b"no such route\n"),
        ("HEAD", "/s/a.txt", 200, b""),
        ("GET", "/s/a.txt", 200, b"static a\n"),
    ],
)
def test_statuses_and_bodiless_answers(
    site: Uwsgi, method: str, uri: str, status: int, body: bytes
) -> None:
    answer = ask(site, method, uri)
    assert (answer.status, answer.body) == (status, body)
    if method == "HEAD" and status == 200:
        assert int(answer.headers["content-length"]) > 0  # the length a GET would get


@pytest.mark.parametrize("size", [0, 1, 4096, BODY_LIMIT])
@pytest.mark.parametrize("over", ["tcp", "unix"])
def test_bodies(site: Uwsgi, size: int, over: str) -> None:
    body = bytes(i % 251 for i in range(size))
    answer = ask(site, "POST", "/echo", over, body=body)
    assert answer.status == 200
    assert answer.headers["x-got"] == str(size)
    assert answer.body == body


def test_a_body_that_arrives_in_pieces(site: Uwsgi) -> None:
    body = b"0123456789" * 3000
    wire = packet(nginx_variables("POST", "/echo", body=body), body)
    family, address = site.address("tcp")
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.connect(address)
        for start in range(0, len(wire), 7000):
            sock.sendall(wire[start : start + 7000])
        answer = parse(read_to_close(sock))
    assert answer.body == body


def test_an_unread_body_is_read_before_the_close(tmp_path: Path) -> None:
    # With --body-buffer 0 the app answers before the body has come: the rest is read and
    # dropped before the close (a close on unread bytes resets the socket, and nginx may
    # lose the answer with it). So the answer and a clean end come after all is sent.
    unix = tmp_path / "d.sock"
    pool = ServerPool()
    try:
        pool(*app_args("--protocol", "uwsgi", "--body-buffer", "0", "-b", f"unix:{unix}"))
        assert wait_until(unix.is_socket, 5.0)
        body = b"y" * 300_000
        wire = packet(nginx_variables("POST", "/noread", body=body), body)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(TIMEOUT)
            sock.connect(str(unix))
            sock.sendall(wire[:1000])
            first = sock.recv(65536)  # the answer, before the body has come
            assert first.startswith(b"HTTP/1.1 200 OK\r\n")
            sock.sendall(wire[1000:])  # the server is still reading: no broken pipe
            answer = parse(first + read_to_close(sock))
        assert answer.body == b"did not read\n"
    finally:
        pool.stop_all()


def test_a_body_over_the_limit_is_413(site: Uwsgi) -> None:
    body = b"x" * (BODY_LIMIT + 1)
    answer = ask(site, "POST", "/echo", body=body)
    assert answer.status == 413


BROKEN: list[tuple[str, bytes, int, str]] = [
    ("http", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "an HTTP client?"),
    ("modifier1", packet(nginx_variables(), modifier1=9), 400, "uwsgi modifier1 9"),
    ("bad-lengths", b"\x00\x04\x00\x00\x09\x00abc", 400, "name runs past"),
    ("no-method", packet([("REQUEST_URI", "/x")]), 400, "without REQUEST_METHOD"),
    (
        "bad-length",
        packet([("REQUEST_METHOD", "POST"), ("CONTENT_LENGTH", "1,1")]),
        400,
        "CONTENT_LENGTH is not a number",
    ),
    (
        "too-many-fields",
        packet([("REQUEST_METHOD", "GET"), *((f"HTTP_X{i}", "1") for i in range(101))]),
        431,
        "too many header fields",
    ),
    (
        "field-too-large",
        packet([("REQUEST_METHOD", "GET"), ("HTTP_COOKIE", "a" * 8190)]),
        431,
        "uwsgi HTTP_COOKIE",
    ),
    (
        "uri-too-long",
        packet([("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/" + "a" * 8190)]),
        414,
        "REQUEST_URI too long",
    ),
]


@pytest.mark.parametrize(
    ("wire", "status", "detail"),
    [case[1:] for case in BROKEN],
    ids=[case[0] for case in BROKEN],
)
def test_broken_packets_get_an_answer_and_one_log_line(
    site: Uwsgi, wire: bytes, status: int, detail: str
) -> None:
    before = site.server.log_text().count(detail)
    answer = parse(exchange(site, wire))
    assert answer.status == status
    assert answer.headers["connection"] == "close"
    assert log_after_sentinel(site, detail, before + 1).count(detail) == before + 1


def test_a_packet_cut_short_is_one_log_line(site: Uwsgi) -> None:
    before = site.server.log_text().count("packet cut short")
    family, address = site.address("tcp")
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.connect(address)
        sock.sendall(packet(nginx_variables())[:30])
        sock.shutdown(socket.SHUT_WR)
        data = read_to_close(sock)
    assert data.startswith(b"HTTP/1.1 400 ")
    cut = "packet cut short"
    assert log_after_sentinel(site, cut, before + 1).count(cut) == before + 1


def test_a_stalled_packet_is_408_after_the_header_timeout(site: Uwsgi) -> None:
    family, address = site.address("tcp")
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.connect(address)
        sock.sendall(packet(nginx_variables())[:30])
        answer = parse(read_to_close(sock))  # --header-timeout 1
    assert answer.status == 408


def test_the_protocol_is_said_at_start(site: Uwsgi) -> None:
    log = site.server.log_text()
    assert "Protocol uwsgi (nginx uwsgi_pass); TCP peers allowed: 127.0.0.1, ::1" in log


# -- who may connect --------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded(serve_module: Serve, tmp_path_factory: pytest.TempPathFactory) -> Uwsgi:
    """Only 10.9.9.9 may connect over TCP: not this test, at 127.0.0.1."""
    unix = tmp_path_factory.mktemp("uwsgi-guarded") / "g.sock"
    args = app_args(
        "--protocol", "uwsgi", "--uwsgi-allow-from", "10.9.9.9", "-b", f"unix:{unix}",
    )  # fmt: skip
    server = serve_module(*args)
    assert wait_until(unix.is_socket, 5.0)
    return Uwsgi(server, unix)


def test_a_peer_not_allowed_is_closed_with_one_log_line(guarded: Uwsgi) -> None:
    family, address = guarded.address("tcp")
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.connect(address)
        port = sock.getsockname()[1]
        try:
            sock.sendall(packet(nginx_variables("GET", "/hello")))
            data = read_to_close(sock)
        except ConnectionResetError:
            data = b""
    assert data == b""
    line = f"uwsgi connection from 127.0.0.1:{port} refused: not in --uwsgi-allow-from"
    assert wait_until(lambda: line in guarded.server.log_text(), TIMEOUT)
    assert guarded.server.log_text().count(f"127.0.0.1:{port}") == 1


def test_a_unix_socket_peer_is_always_allowed(guarded: Uwsgi) -> None:
    answer = ask(guarded, "GET", "/hello?tag=unix", "unix")
    assert (answer.status, answer.body) == (200, b"hello GET unix\n")


@pytest.mark.parametrize("allow", ["127.0.0.0/8", "*", "10.0.0.1,127.0.0.2"])
def test_allowed_networks(allow: str, tmp_path: Path) -> None:
    pool = ServerPool()
    try:
        server = pool(*app_args("--protocol", "uwsgi", "--uwsgi-allow-from", allow))
        with socket.create_connection(
            (server.host, server.port), TIMEOUT, source_address=("127.0.0.2", 0)
        ) as sock:
            sock.sendall(packet(nginx_variables("GET", "/hello?tag=net")))
            answer = parse(read_to_close(sock))
        assert answer.body == b"hello GET net\n"
    finally:
        pool.stop_all()
