"""The Flask app in flaskapp.py, served by the real pronghorn command.

One server (``flaskapp:app``, run from this directory) serves most tests;
the root-path test starts its own with ``--root-path /prefix``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fwlayout import BLOB_NAME, FRAMEWORKS_DIR
from webclient import (
    TIMEOUT,
    connect,
    fetch,
    multipart,
    parse_response,
    raw_exchange,
    recv_until_close,
)

from serverproc import Serve, ServerProcess


def expected_lines(count: int) -> bytes:
    return b"".join(f"line {i:04d} {'y' * 500}\n".encode() for i in range(count))


@pytest.fixture(scope="module")
def server(serve_module: Serve, files_dir: Path) -> ServerProcess:
    return serve_module(
        "--bind",
        "127.0.0.1:0",
        "--threads",
        "4",
        "flaskapp:app",
        cwd=FRAMEWORKS_DIR,
        env={"FLASKAPP_FILES": str(files_dir)},
    )


@pytest.fixture
def connection(server: ServerProcess) -> Iterator[http.client.HTTPConnection]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=TIMEOUT)
    try:
        yield conn
    finally:
        conn.close()


def test_json(server: ServerProcess) -> None:
    reply = fetch(server.host, server.port, "GET", "/json?x=1&x=%E2%9C%93")
    assert reply.status == 200
    assert reply.header("Content-Type") == "application/json"
    assert reply.json() == {
        "method": "GET",
        "path": "/json",
        "script_root": "",
        "args": {"x": ["1", "✓"]},
        "url": "/json",
    }


def test_upload_with_curl(server: ServerProcess, tmp_path: Path) -> None:
    data = os.urandom(300 * 1024 + 1)
    upload = tmp_path / "photo.raw"
    upload.write_bytes(data)
    result = subprocess.run(
        [
            "curl",
            "--silent",
            "--show-error",
            "--fail",
            "--max-time",
            str(TIMEOUT),
            "--form",
            f"file=@{upload}",
            "--form",
            "caption=über",
            server.url("/upload"),
        ],
        capture_output=True,
        timeout=TIMEOUT + 5,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout) == {
        "filename": "photo.raw",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "form": {"caption": "über"},
    }


def test_upload_with_http_client(server: ServerProcess) -> None:
    data = os.urandom(200 * 1024)
    body, content_type = multipart({}, {"file": ("b.bin", data)})
    reply = fetch(server.host, server.port, "POST", "/upload", body, {"Content-Type": content_type})
    assert reply.status == 200
    assert reply.json()["sha256"] == hashlib.sha256(data).hexdigest()


def test_upload_after_expect_100_continue(server: ServerProcess) -> None:
    data = os.urandom(64 * 1024)
    body, content_type = multipart({}, {"file": ("c.bin", data)})
    head = (
        f"POST /upload HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\nConnection: close\r\n\r\n"
    ).encode()
    with connect(server.host, server.port) as sock:
        sock.sendall(head)
        interim = b""
        while b"\r\n\r\n" not in interim:
            received = sock.recv(4096)
            assert received, f"connection closed before 100 Continue: {interim!r}"
            interim += received
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim
        sock.sendall(body)
        rest = interim.partition(b"\r\n\r\n")[2] + recv_until_close(sock)
    response = parse_response(rest)
    assert response.status_line.startswith("HTTP/1.1 200"), rest[:300]
    assert json.loads(response.body)["sha256"] == hashlib.sha256(data).hexdigest()


def test_streaming_is_chunked_on_the_wire(server: ServerProcess) -> None:
    request = (
        f"GET /stream?n=12 HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nConnection: close\r\n\r\n"
    ).encode()
    response = parse_response(raw_exchange(server.host, server.port, request))
    assert response.status_line.startswith("HTTP/1.1 200")
    assert response.header("Transfer-Encoding") == "chunked"
    assert response.header("Content-Length") is None
    assert response.chunks is not None and len(response.chunks) >= 12
    assert response.body == expected_lines(12)


def test_streaming_sends_each_chunk_before_the_next(server: ServerProcess, files_dir: Path) -> None:
    token = os.urandom(8).hex()
    request = (
        f"GET /gated-stream/{token} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with connect(server.host, server.port) as sock:
        sock.sendall(request)
        received = b""
        # The app holds back its second chunk until the flag exists, so this
        # loop ends only if the server sent the first chunk without buffering.
        while b"first\n" not in received:
            data = sock.recv(4096)
            assert data, f"closed before the first chunk: {received!r}"
            received += data
        (files_dir / f"{token}.flag").touch()
        received += recv_until_close(sock)
    assert parse_response(received).body == b"first\nsecond\n"


def test_send_file_exact_bytes(server: ServerProcess, blob: bytes) -> None:
    reply = fetch(server.host, server.port, "GET", f"/file/{BLOB_NAME}")
    assert reply.status == 200
    assert reply.header("Content-Length") == str(len(blob))
    assert reply.body == blob


def test_head_then_get_on_one_connection(
    connection: http.client.HTTPConnection, blob: bytes
) -> None:
    connection.request("HEAD", f"/file/{BLOB_NAME}")
    head = connection.getresponse()
    assert head.status == 200
    assert head.getheader("Content-Length") == str(len(blob))
    assert head.read() == b""
    # Any body bytes sent after the HEAD response would corrupt this one.
    connection.request("GET", f"/file/{BLOB_NAME}")
    get = connection.getresponse()
    assert get.status == 200
    assert get.read() == blob


def test_send_file_range(server: ServerProcess, blob: bytes) -> None:
    reply = fetch(
        server.host, server.port, "GET", f"/file/{BLOB_NAME}", headers={"Range": "bytes=1000-66535"}
    )
    assert reply.status == 206
    assert reply.header("Content-Range") == f"bytes 1000-66535/{len(blob)}"
    assert reply.header("Content-Length") == str(66536 - 1000)
    assert reply.body == blob[1000:66536]


def test_raw_body_echo(server: ServerProcess) -> None:
    data = os.urandom(200 * 1024) + b"\r\n\r\n\x00tail"
    reply = fetch(
        server.host,
        server.port,
        "POST",
        "/echo",
        data,
        {"Content-Type": "application/octet-stream"},
    )
    assert reply.status == 200
    assert reply.header("X-Seen-Content-Length") == str(len(data))
    assert reply.body == data


def test_raw_body_echo_chunked_request(connection: http.client.HTTPConnection) -> None:
    pieces = [os.urandom(size) for size in (1, 4096, 70000, 3)]
    connection.request(
        "POST",
        "/echo",
        body=iter(pieces),
        encode_chunked=True,
        headers={"Content-Type": "application/octet-stream"},
    )
    response = connection.getresponse()
    assert response.status == 200
    assert response.read() == b"".join(pieces)


def test_not_found(server: ServerProcess) -> None:
    assert fetch(server.host, server.port, "GET", "/file/missing.bin").status == 404


def test_root_path_prefix(serve: Serve, files_dir: Path, tmp_path: Path) -> None:
    server = serve(
        "--bind",
        "127.0.0.1:0",
        "--root-path",
        "/prefix",
        "--pythonpath",
        str(FRAMEWORKS_DIR),
        "flaskapp:app",
        cwd=tmp_path,
        env={"FLASKAPP_FILES": str(files_dir)},
    )
    links = fetch(server.host, server.port, "GET", "/prefix/links")
    assert links.status == 200
    assert links.json() == {
        "json": "/prefix/json",
        "file": f"/prefix/file/{BLOB_NAME}",
        "external": f"http://127.0.0.1:{server.port}/prefix/json",
    }
    reply = fetch(server.host, server.port, "GET", "/prefix/json")
    assert reply.status == 200
    assert reply.json()["path"] == "/json"
    assert reply.json()["script_root"] == "/prefix"
    assert reply.json()["url"] == "/prefix/json"
