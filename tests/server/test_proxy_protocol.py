"""--proxy-protocol over real sockets: raw PROXY headers (v1 and v2) sent to the real server.

What the app and the access log see once a header names the client; what happens to a
missing, malformed, truncated, oversized or stalled header (the connection closes, one log
line, no HTTP answer); a peer outside --proxy-allow-from (its bytes are plain HTTP); LOCAL
and UNKNOWN (the real peer); a Unix socket (always expected to send one); v2 over TCP6;
and --forwarded-allow-ips judged against the header's address. The real haproxy in front
is in tests/interop/test_haproxy_send_proxy.py and test_haproxy_recipe.py.
"""

from __future__ import annotations

import json
import secrets
import socket
import struct
import time
from pathlib import Path
from typing import Any

import pytest
from server_setup import SHARED_OPTIONS, app_args

from proxywire import (
    LOCAL,
    PROXY,
    TCP4,
    TCP6,
    UNSPEC,
    addresses,
    ssl_tlv,
    tlv,
    v1,
    v2,
)
from rawhttp import RawClient, has_ipv6_loopback, request, wait_until
from serverproc import Serve, ServerProcess

CLIENT = ("203.0.113.7", 51234)
V1_HEADER = v1("TCP4", CLIENT[0], "192.0.2.1", str(CLIENT[1]), "443")
V2_HEADER = v2(PROXY, TCP4, addresses(CLIENT[0], "192.0.2.1", CLIENT[1], 443))


@pytest.fixture(scope="module")
def unix_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pp-unix") / "pp.sock"


@pytest.fixture(scope="module")
def server(serve_module: Serve, unix_path: Path) -> ServerProcess:
    """--proxy-protocol with the default allow-list (loopback), header timeout 1 s, an
    access log on stdout, and a Unix socket beside the TCP listener."""
    args = app_args(
        *SHARED_OPTIONS, "--proxy-protocol", "--access-logfile", "-", "-b", f"unix:{unix_path}"
    )
    started = serve_module(*args)
    assert wait_until(unix_path.is_socket, 5.0)
    return started


def environ_after(
    server: ServerProcess, header: bytes, headers: list[tuple[str, str]] | None = None
) -> tuple[dict[str, Any], int]:
    """Send `header` and one request in the same write; the environ the app saw and the
    client's own port."""
    with RawClient.connect(server.host, server.port) as client:
        client.send(header + request("GET", "/environ", headers))
        resp = client.response()
        port = client.local_port()
    assert resp.status == 200, resp
    environ: dict[str, Any] = json.loads(resp.body)
    return environ, port


def closed_without_answer(client: RawClient) -> None:
    assert client.read_to_eof() == b"", "a refused PROXY header got an HTTP answer"


def one_log_line(server: ServerProcess, port: int, words: str, *, since: int) -> str:
    """The one error-log line about the connection from our `port`, which says `words`,
    among the lines written after the log mark `since` (the module's server has served
    many connections, and an earlier one may have had the same port). It is written before
    the connection is closed, so it is complete once the client has seen the close."""
    peer = f"127.0.0.1:{port}"
    text = server.wait_for_log(peer, since=since)
    lines = [line for line in text.splitlines() if peer in line]
    assert len(lines) == 1, lines
    assert words in lines[0], lines[0]
    return lines[0]


# -- what the app sees --------------------------------------------------------------------


@pytest.mark.parametrize("header", [V1_HEADER, V2_HEADER], ids=["v1", "v2"])
def test_the_header_names_the_client(server: ServerProcess, header: bytes) -> None:
    environ, _ = environ_after(server, header)
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == (CLIENT[0], str(CLIENT[1]))
    assert environ["wsgi.url_scheme"] == "http"


def test_v2_tcp6_addresses(server: ServerProcess) -> None:
    header = v2(PROXY, TCP6, addresses("2001:db8::7", "2001:db8::1", 4444, 443))
    environ, _ = environ_after(server, header)
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("2001:db8::7", "4444")


@pytest.mark.parametrize(
    "header",
    [v2(LOCAL, UNSPEC), v2(LOCAL, TCP4, b"\0" * 12), b"PROXY UNKNOWN\r\n",
     b"PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n", v2(PROXY, UNSPEC)],
    ids=["v2-local", "v2-local-with-block", "v1-unknown", "v1-unknown-long", "v2-unspec"],
)  # fmt: skip
def test_local_and_unknown_keep_the_real_peer(server: ServerProcess, header: bytes) -> None:
    environ, port = environ_after(server, header)
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("127.0.0.1", str(port))


def test_v2_ssl_tlv_makes_the_scheme_https(server: ServerProcess) -> None:
    block = addresses(CLIENT[0], "192.0.2.1", CLIENT[1], 443)
    environ, _ = environ_after(server, v2(PROXY, TCP4, block, ssl_tlv(0x01)))
    assert environ["wsgi.url_scheme"] == "https"
    # The listener's own name and port are not what the client asked for: the Host is.
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("test", "443")
    environ, _ = environ_after(server, v2(PROXY, TCP4, block, ssl_tlv(0x00) + tlv(0x01, b"h2")))
    assert environ["wsgi.url_scheme"] == "http"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("127.0.0.1", str(server.port))


def test_every_request_of_the_connection_and_the_access_log(server: ServerProcess) -> None:
    tag = secrets.token_hex(4)
    with RawClient.connect(server.host, server.port) as client:
        # The header and two pipelined requests in one write: nothing after the header
        # may be lost or taken for it.
        pipelined = request("GET", f"/environ?tag={tag}") + request("GET", f"/hello?tag={tag}")
        client.send(V2_HEADER + pipelined)
        first = client.response()
        second = client.response()
        client.send(request("GET", f"/environ?tag={tag}"))
        third = client.response()
    assert (first.status, second.status, third.status) == (200, 200, 200)
    for resp in (first, third):
        assert json.loads(resp.body)["REMOTE_ADDR"] == CLIENT[0]
    # The access log writes a line once the response's last byte is sent, so the client
    # may hold all three answers before the last lines reach the log: wait for them.

    def logged() -> list[str]:
        return [line for line in server.stdout_text().splitlines() if f"tag={tag}" in line]

    assert wait_until(lambda: len(logged()) >= 3, 5.0), logged()
    lines = logged()
    assert all(line.startswith(f"{CLIENT[0]} - - [") for line in lines), lines


def test_error_log_lines_name_the_headers_client(server: ServerProcess) -> None:
    # A client port no other test uses, so that the line is this test's.
    header = v1("TCP4", CLIENT[0], "192.0.2.1", "40404", "443")
    with RawClient.connect(server.host, server.port) as client:
        client.send(header + b"GET / HTTP/1.1\r\nHost: a\r\nNo colon here\r\n\r\n")
        assert client.response().status == 400
    text = server.wait_for_log(f"from {CLIENT[0]}:40404")
    line = next(line for line in text.splitlines() if f"{CLIENT[0]}:40404" in line)
    assert "400 " in line


@pytest.mark.parametrize("header", [V1_HEADER, V2_HEADER], ids=["v1", "v2"])
def test_a_header_in_pieces(server: ServerProcess, header: bytes) -> None:
    with RawClient.connect(server.host, server.port) as client:
        client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for index in range(0, len(header), 5):
            client.send(header[index : index + 5])
            # Paces the pieces so that they arrive as separate reads; an incomplete
            # header is waited for, not refused.
            assert not client.closed_within(0.02)
        client.send(request("GET", "/environ"))
        resp = client.response()
    assert json.loads(resp.body)["REMOTE_ADDR"] == CLIENT[0]


def test_unix_socket_peer_must_send_the_header(server: ServerProcess, unix_path: Path) -> None:
    with RawClient.connect_unix(str(unix_path)) as client:
        client.send(V1_HEADER + request("GET", "/environ", host="shop.example"))
        environ = json.loads(client.response().body)
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == (CLIENT[0], str(CLIENT[1]))
    assert environ["SERVER_NAME"] == "shop.example"
    with RawClient.connect_unix(str(unix_path)) as client:
        client.send(request("GET", "/environ"))
        closed_without_answer(client)
    assert "bad PROXY header from unix socket" in server.wait_for_log("from unix socket")


# -- refusals: closed, one log line, no HTTP ------------------------------------------------

REFUSED = [
    ("missing (plain HTTP)", request("GET", "/hello"), "no PROXY signature"),
    ("malformed v1", b"PROXY TCP4 1.2.3.4 5.6.7.8 080 1\r\n" + request(), "bad port"),
    ("bare LF v1", b"PROXY TCP4 1.2.3.4 5.6.7.8 80 1\n" + request(), "not printable"),
    ("oversized v1", b"PROXY UNKNOWN " + b"f" * 120, "longer than 107"),
    ("oversized v2", v2(PROXY, TCP4, length=0xFFFF) + b"\0" * 100, "more than 4096"),
    ("v2 command 3", v2(PROXY + 2, TCP4, b"\0" * 12), "unknown command"),
    ("v2 bad TLV", v2(PROXY, TCP4, b"\0" * 12 + b"\x05\x00\x09ab"), "TLV"),
    ("TLS ClientHello", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\0" * 40, "no PROXY"),
]


@pytest.mark.parametrize(("data", "words"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_a_bad_header_closes_with_one_log_line(
    server: ServerProcess, data: bytes, words: str
) -> None:
    since = server.log_mark()
    with RawClient.connect(server.host, server.port) as client:
        port = client.local_port()
        client.send(data)
        closed_without_answer(client)
    line = one_log_line(server, port, "bad PROXY header", since=since)
    assert words in line


@pytest.mark.parametrize("header", [V1_HEADER, V2_HEADER], ids=["v1", "v2"])
def test_a_truncated_header_closes_with_one_log_line(server: ServerProcess, header: bytes) -> None:
    since = server.log_mark()
    with RawClient.connect(server.host, server.port) as client:
        port = client.local_port()
        client.send(header[:-3])
        client.sock.shutdown(socket.SHUT_WR)
        closed_without_answer(client)
    one_log_line(server, port, "truncated PROXY header", since=since)


@pytest.mark.parametrize("sent", [b"", V2_HEADER[:20], b"PROXY TCP4 1.2"], ids=repr)
def test_a_stalled_header_closes_after_the_header_timeout(
    server: ServerProcess, sent: bytes
) -> None:
    since = server.log_mark()
    with RawClient.connect(server.host, server.port, timeout=8.0) as client:
        port = client.local_port()
        client.send(sent)
        started = time.monotonic()
        closed_without_answer(client)
        waited = time.monotonic() - started
    one_log_line(server, port, "timed out waiting for the PROXY header", since=since)
    assert waited < 6.0  # --header-timeout 1: closed by the next sweeps, not the keep-alive


def test_a_dribbled_header_must_still_finish_in_the_header_timeout(server: ServerProcess) -> None:
    since = server.log_mark()
    with RawClient.connect(server.host, server.port, timeout=8.0) as client:
        port = client.local_port()
        started = time.monotonic()
        index = 0
        # One byte every 0.1 s, never finishing the header (41 bytes); --header-timeout is
        # 1 s from the accept, and the sweep runs each second.
        while not client.closed_within(0.1):
            assert time.monotonic() - started < 4.0, "the server waited on a dribbled header"
            try:
                client.send(V1_HEADER[index : index + 1] if index < len(V1_HEADER) - 2 else b"")
            except (BrokenPipeError, ConnectionResetError):
                break
            index += 1
        assert time.monotonic() - started >= 0.9
        assert client.buffer == b""
    one_log_line(server, port, "timed out waiting for the PROXY header", since=since)


def test_connect_and_close_is_not_logged(server: ServerProcess) -> None:
    since = server.log_mark()
    with RawClient.connect(server.host, server.port) as client:
        quiet_port = client.local_port()
    # A connection that is logged, after it: once its line is there, the first one's
    # would have been too.
    with RawClient.connect(server.host, server.port) as client:
        port = client.local_port()
        client.send(b"X")
        closed_without_answer(client)
    text = server.wait_for_log(f"127.0.0.1:{port}", since=since)
    assert f"127.0.0.1:{quiet_port}" not in text


# -- who must send it --------------------------------------------------------------------


def test_a_peer_outside_the_allow_list_speaks_plain_http(serve: Serve) -> None:
    server = serve(*app_args("--proxy-protocol", "--proxy-allow-from", "10.9.9.9"))
    environ, port = environ_after(server, b"")
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("127.0.0.1", str(port))
    # Its PROXY header is not read: just bad HTTP, answered by the usual 400.
    with RawClient.connect(server.host, server.port) as client:
        client.send(V1_HEADER + request())
        assert client.response().status == 400


def test_without_the_option_a_header_is_bad_http(serve: Serve) -> None:
    server = serve(*app_args())
    with RawClient.connect(server.host, server.port) as client:
        client.send(V1_HEADER + request())
        assert client.response().status == 400


def test_allow_list_networks(serve: Serve) -> None:
    server = serve(*app_args("--proxy-protocol", "--proxy-allow-from", "10.0.0.0/8,127.0.0.0/8"))
    environ, _ = environ_after(server, V2_HEADER)
    assert environ["REMOTE_ADDR"] == CLIENT[0]


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no ::1 on this machine")
def test_v2_over_tcp6(serve: Serve) -> None:
    args = app_args("--proxy-protocol")
    args[args.index("127.0.0.1:0")] = "[::1]:0"
    server = serve(*args)
    header = v2(PROXY, TCP6, addresses("2001:db8::7", "::1", 4444, server.port))
    with RawClient.connect("::1", server.port) as client:
        client.send(header + request("GET", "/environ"))
        environ = json.loads(client.response().body)
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("2001:db8::7", "4444")
    with RawClient.connect("::1", server.port) as client:
        real_port = client.local_port()
        client.send(v2(LOCAL, UNSPEC) + request("GET", "/environ"))
        environ = json.loads(client.response().body)
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("::1", str(real_port))


# -- trusted proxy headers, relative to the header's client ---------------------------------


def test_forwarded_headers_are_judged_by_the_header_address(serve: Serve) -> None:
    server = serve(*app_args("--proxy-protocol", "--forwarded-allow-ips", "10.0.0.0/8"))
    forged = [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-Proto", "https")]
    # The client behind the proxy is not trusted: what it forges changes nothing, even
    # though the connection itself comes from loopback.
    environ, _ = environ_after(server, V1_HEADER, forged)
    assert (environ["REMOTE_ADDR"], environ["wsgi.url_scheme"]) == (CLIENT[0], "http")
    assert environ["HTTP_X_FORWARDED_FOR"] == "6.6.6.6"
    # A proxy at a trusted address (10.1.2.3, as the header says) is believed.
    trusted = v1("TCP4", "10.1.2.3", "192.0.2.1", "40000", "443")
    environ, _ = environ_after(server, trusted, forged)
    assert (environ["REMOTE_ADDR"], environ["wsgi.url_scheme"]) == ("6.6.6.6", "https")


def test_loopback_is_trusted_only_when_the_header_says_loopback(server: ServerProcess) -> None:
    forged = [("X-Forwarded-For", "6.6.6.6")]
    environ, _ = environ_after(server, V2_HEADER, forged)
    assert environ["REMOTE_ADDR"] == CLIENT[0]
    environ, _ = environ_after(server, v1("TCP4", "127.0.0.1", "127.0.0.1", "1", "2"), forged)
    assert environ["REMOTE_ADDR"] == "6.6.6.6"


def test_header_fields_are_checked_before_use(server: ServerProcess) -> None:
    # Bytes that would spoil a log line never get that far.
    header = b"PROXY TCP4 1.2.3.4\x1b[31m 5.6.7.8 1 2\r\n"
    since = server.log_mark()
    with RawClient.connect(server.host, server.port) as client:
        port = client.local_port()
        client.send(header + request())
        closed_without_answer(client)
    line = one_log_line(server, port, "not printable", since=since)
    assert "\x1b" not in line


def test_the_v2_length_is_honoured_exactly(server: ServerProcess) -> None:
    block = addresses(CLIENT[0], "192.0.2.1", CLIENT[1], 443)
    padded = v2(PROXY, TCP4, block, tlv(0x04, b"GET /evil HTTP/1.1\r\n\r\n"))
    environ, _ = environ_after(server, padded)
    assert environ["PATH_INFO"] == "/environ"
    assert struct.unpack("!H", padded[14:16])[0] == len(padded) - 16


# -- gunicorn's version choice --------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "accepted", "refused"),
    [("v1", V1_HEADER, V2_HEADER), ("v2", V2_HEADER, V1_HEADER)],
)
def test_one_version_only(serve: Serve, version: str, accepted: bytes, refused: bytes) -> None:
    server = serve(*app_args(*SHARED_OPTIONS, "--proxy-protocol", version))
    assert environ_after(server, accepted)[0]["REMOTE_ADDR"] == CLIENT[0]
    since = server.log_mark()
    with RawClient.connect(server.host, server.port) as client:
        client.send(refused + request("GET", "/environ"))
        port = client.local_port()
        closed_without_answer(client)
    line = one_log_line(server, port, "bad PROXY header", since=since)
    assert f"--proxy-protocol says {version}" in line
