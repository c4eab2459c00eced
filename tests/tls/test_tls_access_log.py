"""Over TLS too, the access log writes a response's line when its last byte went out.

A TLS connection cannot use sendfile: the reactor reads and encrypts a parked file as the
socket drains (`TLSParkedOutput`). The line must still wait for that, with the full byte
count, and a client gone midway gets the bytes that went out and the `X` mark. The client
is `slowread`'s (see tests/server/test_access_log_timing.py for the plain-TCP cases).
"""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

import pytest
from slowread import (
    FORMAT,
    SlowReader,
    access_lines,
    kernel_margin,
    small_buffer_socket,
    wait_for_line,
)
from tlstools import Site, client_context, tls_args

from serverproc import Serve, ServerProcess

BIG = 16 * 1024 * 1024
PAUSE = 0.002


@pytest.fixture()
def logged(serve: Serve, site: Site, tmp_path: Path) -> tuple[ServerProcess, Path]:
    files = tmp_path / "files"
    files.mkdir()
    (files / "big.bin").write_bytes(bytes(range(256)) * (BIG // 256))
    log = tmp_path / "access.log"
    options = ("--static", f"/slow={files}", "--io-timeout", "30", "--threads", "2")
    access = ("--access-logfile", str(log), "--access-logformat", FORMAT)
    return serve(*tls_args(site, *options, *access)), log


def _tls_client(server: ServerProcess, site: Site) -> SlowReader:
    raw = small_buffer_socket(server.host, server.port)
    sock = client_context(site).wrap_socket(raw, server_hostname="127.0.0.1")
    return SlowReader(sock, PAUSE)


def test_a_slow_tls_reader_is_logged_after_its_last_byte(
    logged: tuple[ServerProcess, Path], site: Site
) -> None:
    server, log = logged
    target = "/slow/big.bin?tag=tls-slow"
    margin = kernel_margin()
    assert 2 * margin < BIG
    reader = _tls_client(server, site)
    with reader.sock:
        started = time.monotonic()
        reader.sock.sendall(f"GET {target} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        assert reader.head() == (200, BIG)
        marks = {BIG - margin: 0.0}
        reader.body(BIG - margin, marks)
        assert access_lines(log, target) == [], "logged before the last byte was sent"
        reader.body(margin)
    line = wait_for_line(log, target)
    assert line[1:3] == ["200", str(BIG)] and line[4] == "+", line
    took = marks[BIG - margin] - started
    assert int(line[3]) / 1e6 >= took, f"logged {line[3]} µs; the client took {took:.3f} s"


def test_a_tls_client_gone_midway_is_logged_with_the_bytes_that_went_out(
    logged: tuple[ServerProcess, Path], site: Site
) -> None:
    server, log = logged
    target = "/slow/big.bin?tag=tls-gone"
    reader = _tls_client(server, site)
    with reader.sock:
        reader.sock.sendall(f"GET {target} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        read = reader.some(1 << 20)
        reader.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    line = wait_for_line(log, target)
    assert line[1] == "200" and line[4] == "X", line
    sent = int(line[2])
    # TLS records add their own bytes on the wire; the log counts plaintext body bytes.
    assert read - 400 <= sent < BIG, f"logged {sent} bytes sent; the client read {read}"
