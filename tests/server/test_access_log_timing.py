"""The access log writes a response's line when its last byte went to the kernel.

Against the real `pronghorn` command and real sockets: a client that reads slowly (a small
receive buffer, a pause after each read) gets its line only once it has read all but what
the kernel can hold, with the full byte count and a duration at least as long as that
took; a client that goes away midway gets a line with the bytes that went out and the
`X` mark; pipelined requests keep their lines in order. Both bodies the reactor finishes
are covered: an app's bytes (parked as a view) and a static file (parked for sendfile).
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_apps import big_body
from server_setup import app_args
from slowread import (
    FORMAT,
    SlowReader,
    access_lines,
    kernel_margin,
    small_buffer_socket,
    wait_for_line,
)

from serverproc import Serve, ServerProcess

BIG = 16 * 1024 * 1024
PAUSE = 0.002  # after each read of at most a receive buffer: about 1 s for BIG


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("access-timing")
    (root / "big.bin").write_bytes(big_body(BIG))
    return root


@pytest.fixture()
def logged(serve: Serve, site: Path, tmp_path: Path) -> Iterator[tuple[ServerProcess, Path]]:
    log = tmp_path / "access.log"
    options = ("--threads", "2", "--io-timeout", "30", "--static", f"/s={site}")
    yield (
        serve(*app_args(*options, "--access-logfile", str(log), "--access-logformat", FORMAT)),
        log,
    )


def _target(kind: str, tag: str) -> str:
    """A BIG body: a static file (sendfile), one bytes object from the app (parked whole),
    or, for "stream", up to 1 GiB in 64 KiB parts (past the parking bound the app's
    thread waits for the client itself)."""
    return {
        "static": f"/s/big.bin?tag={tag}",
        "app": f"/big?size={BIG}&tag={tag}",
        "stream": f"/endless?tag={tag}",
    }[kind]


@pytest.mark.parametrize("kind", ["static", "app"])
def test_a_slow_reader_is_logged_after_its_last_byte(
    logged: tuple[ServerProcess, Path], kind: str
) -> None:
    server, log = logged
    target = _target(kind, f"slow-{kind}")
    margin = kernel_margin()
    assert 2 * margin < BIG, "the body must outgrow what the kernel can hold"
    with small_buffer_socket(server.host, server.port) as sock:
        started = time.monotonic()
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        reader = SlowReader(sock, PAUSE)
        assert reader.head() == (200, BIG)
        marks = {BIG - margin: 0.0}
        reader.body(BIG - margin, marks)
        # More than the kernel can hold is still unread: the server is still sending.
        assert access_lines(log, target) == [], "logged before the last byte was sent"
        reader.body(margin)
    line = wait_for_line(log, target)
    assert line[1:3] == ["200", str(BIG)]
    took = marks[BIG - margin] - started
    assert int(line[3]) / 1e6 >= took, f"logged {line[3]} µs; the client took {took:.3f} s"
    assert line[4] == "+"


@pytest.mark.parametrize("kind", ["static", "app", "stream"])
def test_a_client_gone_midway_is_logged_with_the_bytes_that_went_out(
    logged: tuple[ServerProcess, Path], kind: str
) -> None:
    server, log = logged
    target = _target(kind, f"gone-{kind}")
    with small_buffer_socket(server.host, server.port) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        reader = SlowReader(sock, PAUSE)
        read = reader.some(1 << 20)  # head and body: the head is at most a few hundred
        # Close with unread bytes and linger 0: a reset, as a browser tab that is closed.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    line = wait_for_line(log, target)
    assert line[1] == "200" and line[4] == "X", line
    sent = int(line[2])
    assert read - 400 <= sent < BIG, f"logged {sent} bytes sent; the client read {read}"
    assert sent <= read + kernel_margin()


def test_pipelined_requests_keep_their_lines_in_order(
    logged: tuple[ServerProcess, Path],
) -> None:
    server, log = logged
    targets = [
        f"/big?size={BIG // 2}&tag=pipe-1",
        "/hello?tag=pipe-2",
        "/s/big.bin?tag=pipe-3",
        "/hello?tag=pipe-4",
    ]
    with small_buffer_socket(server.host, server.port) as sock:
        sock.sendall(b"".join(f"GET {t} HTTP/1.1\r\nHost: a\r\n\r\n".encode() for t in targets))
        reader = SlowReader(sock, PAUSE / 4)
        for _ in targets:
            status, length = reader.head()
            assert status == 200
            assert reader.body(length) == length
    for target in targets:
        wait_for_line(log, target)
    order = [fields[0].split()[1] for fields in access_lines(log, "pipe-")]
    assert order == targets
    lengths = [int(fields[2]) for fields in access_lines(log, "pipe-")]
    assert lengths[0] == BIG // 2 and lengths[2] == BIG
