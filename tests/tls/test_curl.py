"""HTTPS served by pronghorn itself, as the real curl sees it (`curl --cacert`)."""

from __future__ import annotations

import hashlib
import http.client
import json
import socket

import pytest
from tlstools import Site, client_context, curl, tls_args

from serverproc import Serve, ServerProcess


@pytest.fixture(scope="module")
def server(serve_module: Serve, site: Site) -> ServerProcess:
    return serve_module(*tls_args(site))


def test_the_server_says_it_listens_on_https(server: ServerProcess) -> None:
    assert server.scheme == "https"
    assert f"Listening at: https://127.0.0.1:{server.port}" in server.log_text()


def test_get(site: Site, server: ServerProcess) -> None:
    done = curl(site, server.url("/"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"hello over https\n"
    # By name too: the certificate is for localhost as well as 127.0.0.1.
    done = curl(site, f"https://localhost:{server.port}/")
    assert done.returncode == 0, done.stderr


def test_environ_says_https(site: Site, server: ServerProcess) -> None:
    done = curl(site, server.url("/environ"))
    environ = json.loads(done.stdout)
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["HTTPS"] == "on"
    assert environ["SSL_PROTOCOL"] == "TLSv1.3"
    assert environ["SSL_CIPHER"]
    assert environ["SSL_CLIENT_VERIFY"] == "NONE"  # no client certificate was asked for
    assert environ["SSL_CLIENT_CERT"] is None


def test_post_of_one_mebibyte(site: Site, server: ServerProcess) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB, larger than --body-buffer: streamed to the app
    path = site.directory / "upload.bin"
    path.write_bytes(body)
    done = curl(site, "--data-binary", f"@{path}", "-D", "-", server.url("/echo"))
    assert done.returncode == 0, done.stderr
    head, _, echoed = done.stdout.partition(b"\r\n\r\n")
    assert echoed == body
    assert f"x-sha256: {hashlib.sha256(body).hexdigest()}".encode() in head.lower()


def test_keep_alive_carries_several_requests_on_one_connection(
    site: Site, server: ServerProcess
) -> None:
    urls = [server.url("/"), server.url("/environ"), server.url("/files/small.txt")] * 2
    done = curl(site, "-v", *urls)
    assert done.returncode == 0, done.stderr
    trace = done.stderr.decode()
    assert trace.count("Re-using existing connection") == len(urls) - 1, trace
    assert trace.count("SSL connection using") == 1  # one handshake
    assert done.stdout.count(b"hello over https\n") == 2


def test_static_file_whole(site: Site, server: ServerProcess) -> None:
    done = curl(site, server.url("/files/big.bin"))
    assert done.returncode == 0, done.stderr
    assert len(done.stdout) == len(site.big)
    assert done.stdout == site.big


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [("0-99", 0, 100), ("1000-2999999", 1000, 3000000), ("-5000", -5000, None)],
)
def test_static_file_range(
    site: Site, server: ServerProcess, spec: str, start: int, end: int | None
) -> None:
    done = curl(site, "-r", spec, "-w", "\n%{http_code}", server.url("/files/big.bin"))
    assert done.returncode == 0, done.stderr
    body, _, status = done.stdout.rpartition(b"\n")
    assert status == b"206"
    assert body == site.big[start:end]


def test_large_file_to_a_client_with_a_small_window(site: Site, server: ServerProcess) -> None:
    """The client's receive buffer is small, so the server's socket fills: the rest of the
    file is parked and copied through TLS as the client drains it (no sendfile), and the
    connection then serves the next request."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(10)
    raw.connect(("127.0.0.1", server.port))
    with client_context(site).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        for path, expected in (("/files/big.bin", site.big), ("/", b"hello over https\n")):
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
            response = http.client.HTTPResponse(tls)
            response.begin()
            assert response.status == 200
            pieces = []
            while piece := response.read(4096):
                pieces.append(piece)
            assert b"".join(pieces) == expected
