"""Handshakes that go wrong cost one log line and their own connection, never a worker or
a thread: garbage bytes, plain HTTP sent to the TLS port, a client that stalls in the
middle of its hello, one that leaves. The server runs one thread (--threads 1), so a
handshake that held it would hold every other client too."""

from __future__ import annotations

import socket
import ssl

import pytest
from tlstools import Site, curl, tls_args

from serverproc import Serve, ServerProcess

HEADER_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def server(serve_module: Serve, site: Site) -> ServerProcess:
    return serve_module(*tls_args(site, "--threads", "1", "--header-timeout", str(HEADER_TIMEOUT)))


def _connect(server: ServerProcess) -> tuple[socket.socket, str]:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock, f"127.0.0.1:{sock.getsockname()[1]}"


def _read_to_end(sock: socket.socket) -> bytes:
    """Everything until the server closes (a reset counts as the end too)."""
    pieces = []
    try:
        while piece := sock.recv(65536):
            pieces.append(piece)
    except ConnectionResetError:
        pass
    return b"".join(pieces)


def _lines_about(server: ServerProcess, peer: str) -> list[str]:
    return [line for line in server.log_text().splitlines() if peer in line]


def _client_hello() -> bytes:
    """The first flight of a real TLS client, as it would go on the wire."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="x")
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    return outgoing.read()


def _still_serving(site: Site, server: ServerProcess) -> None:
    done = curl(site, "--max-time", "5", server.url("/"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"hello over https\n"
    log = server.log_text()
    assert "Worker crashed" not in log and "Traceback" not in log
    assert log.count("Booting worker") == 1  # the same worker all along


@pytest.mark.parametrize(
    "garbage",
    [
        bytes(range(256)) * 4,  # not a TLS record at all
        b"\x16\x03\x01\x00\x20" + b"\xff" * 32,  # a handshake record holding nonsense
        b"\x16\x03\x01\x40\x00" + b"\x00" * 16384,  # a record too long for a hello
    ],
    ids=["noise", "bad-hello", "oversized"],
)
def test_garbage_costs_one_line_and_the_connection(
    site: Site, server: ServerProcess, garbage: bytes
) -> None:
    sock, peer = _connect(server)
    with sock:
        sock.sendall(garbage)
        _read_to_end(sock)  # the server closes it
    server.wait_for_log(f"TLS handshake with {peer} failed")
    assert len(_lines_about(server, peer)) == 1, _lines_about(server, peer)
    _still_serving(site, server)


def test_plain_http_to_the_tls_port_gets_a_400(site: Site, server: ServerProcess) -> None:
    sock, peer = _connect(server)
    with sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        answer = _read_to_end(sock)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
    assert answer.endswith(b"This port speaks HTTPS: use an https:// URL.\n")
    server.wait_for_log(f"400 plain HTTP request on a TLS port from {peer}")
    assert len(_lines_about(server, peer)) == 1
    # curl's own view of it: an http:// URL on the TLS port.
    done = curl(site, "-w", "%{http_code}", f"http://127.0.0.1:{server.port}/")
    assert b"400" in done.stdout
    _still_serving(site, server)


def test_a_stalled_handshake_does_not_hold_the_thread(site: Site, server: ServerProcess) -> None:
    hello = _client_hello()
    sock, peer = _connect(server)
    with sock:
        sock.sendall(hello[: len(hello) // 2])  # and then nothing
        _still_serving(site, server)  # the one thread is free meanwhile
        # Closed by the server at its deadline (the socket's own timeout, 10 s, would
        # fail the test first if it were not).
        assert _read_to_end(sock) == b""
    server.wait_for_log(f"TLS handshake with {peer} not done within 1 s")
    assert len(_lines_about(server, peer)) == 1


def test_a_silent_connection_is_closed_at_the_deadline(site: Site, server: ServerProcess) -> None:
    sock, peer = _connect(server)
    with sock:
        assert _read_to_end(sock) == b""
    server.wait_for_log(f"TLS handshake with {peer} not done within 1 s")
    assert len(_lines_about(server, peer)) == 1


def test_a_client_that_leaves_mid_handshake_is_not_an_error(
    site: Site, server: ServerProcess
) -> None:
    """What a load balancer's TCP health check does: logged at DEBUG only."""
    hello = _client_hello()
    sock, peer = _connect(server)
    with sock:
        sock.sendall(hello[:10])
    _still_serving(site, server)
    marker, marker_peer = _connect(server)  # a later event the log must show first
    with marker:
        marker.sendall(b"\x00" * 64)
        _read_to_end(marker)
    server.wait_for_log(f"TLS handshake with {marker_peer} failed")
    assert _lines_about(server, peer) == []
