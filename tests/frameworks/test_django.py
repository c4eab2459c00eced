"""The Django project in djangosite/, served by the real pronghorn command.

The module prepares a SQLite database in a temporary directory (migrate and
createsuperuser through manage.py), starts one server with the bare module
``djangosite.wsgi`` as APP, and talks to it with http.client, raw sockets
and curl.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from djangodb import ADMIN_PASSWORD, ADMIN_USER, prepare_site
from fwlayout import BLOB_NAME, FRAMEWORKS_DIR
from webclient import TIMEOUT, Session, fetch, multipart, parse_response, raw_exchange

from serverproc import Serve, ServerProcess

TOKEN_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
STREAM_CHUNKS = 5


@pytest.fixture(scope="module")
def site_env(tmp_path_factory: pytest.TempPathFactory, files_dir: Path) -> dict[str, str]:
    """Environment naming a freshly migrated database with a superuser."""
    return prepare_site(tmp_path_factory.mktemp("djangodb"), files_dir)


@pytest.fixture(scope="module")
def server(serve_module: Serve, site_env: dict[str, str]) -> ServerProcess:
    return serve_module(
        "--bind",
        "127.0.0.1:0",
        "--threads",
        "4",
        "djangosite.wsgi",
        cwd=FRAMEWORKS_DIR,
        env=site_env,
    )


def session(server: ServerProcess) -> Session:
    return Session(server.host, server.port)


def csrf_token(html: str) -> str:
    match = TOKEN_RE.search(html)
    assert match is not None, f"no csrfmiddlewaretoken in:\n{html}"
    return match.group(1)


def expected_stream() -> bytes:
    return b"".join(f"chunk {i} {'x' * 1000}\n".encode() for i in range(STREAM_CHUNKS))


def test_admin_login_page(server: ServerProcess) -> None:
    client = session(server)
    reply = client.fetch("GET", "/admin/login/")
    assert reply.status == 200
    html = reply.text()
    assert 'id="login-form"' in html
    assert 'name="username"' in html and 'name="password"' in html
    csrf_token(html)
    assert "csrftoken" in client.cookies


def test_admin_login_as_superuser(server: ServerProcess) -> None:
    client = session(server)
    token = csrf_token(client.fetch("GET", "/admin/login/").text())
    fields = {
        "csrfmiddlewaretoken": token,
        "username": ADMIN_USER,
        "password": ADMIN_PASSWORD,
        "next": "/admin/",
    }
    reply = client.post_form("/admin/login/?next=/admin/", fields)
    assert reply.status == 302, reply.text()
    assert reply.header("Location") == "/admin/"
    assert "sessionid" in client.cookies
    index = client.fetch("GET", "/admin/")
    assert index.status == 200
    assert "Site administration" in index.text()


def test_admin_requires_login(server: ServerProcess) -> None:
    reply = fetch(server.host, server.port, "GET", "/admin/")
    assert reply.status == 302
    assert reply.header("Location") == "/admin/login/?next=/admin/"


def test_form_post_with_csrf_token(server: ServerProcess) -> None:
    client = session(server)
    page = client.fetch("GET", "/form/")
    assert page.status == 200
    token = csrf_token(page.text())
    reply = client.post_form("/form/", {"csrfmiddlewaretoken": token, "name": "Zoë Ørsted"})
    assert reply.status == 200, reply.text()
    assert '<p id="result">Thanks, Zoë Ørsted!</p>' in reply.text()


def test_form_post_without_token_is_forbidden(server: ServerProcess) -> None:
    bare = session(server).post_form("/form/", {"name": "mallory"})
    assert bare.status == 403
    client = session(server)
    client.fetch("GET", "/form/")
    assert "csrftoken" in client.cookies
    cookie_only = client.post_form("/form/", {"name": "mallory"})
    assert cookie_only.status == 403


def test_upload_with_curl(server: ServerProcess, tmp_path: Path) -> None:
    data = os.urandom(300 * 1024 + 7)
    upload = tmp_path / "upload.bin"
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
            "note=from curl",
            server.url("/upload/"),
        ],
        capture_output=True,
        timeout=TIMEOUT + 5,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    answer = json.loads(result.stdout)
    assert answer == {
        "name": "upload.bin",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "note": "from curl",
    }


def test_upload_with_http_client(server: ServerProcess) -> None:
    data = os.urandom(300 * 1024)
    body, content_type = multipart({"note": "plain"}, {"file": ("a.bin", data)})
    reply = fetch(
        server.host, server.port, "POST", "/upload/", body, {"Content-Type": content_type}
    )
    assert reply.status == 200, reply.body[:500]
    assert reply.json()["size"] == len(data)
    assert reply.json()["sha256"] == hashlib.sha256(data).hexdigest()


def test_streaming_response_is_chunked_on_the_wire(server: ServerProcess) -> None:
    request = (
        f"GET /stream/ HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nConnection: close\r\n\r\n"
    ).encode()
    response = parse_response(raw_exchange(server.host, server.port, request))
    assert response.status_line.startswith("HTTP/1.1 200")
    assert response.header("Content-Length") is None
    assert response.header("Transfer-Encoding") == "chunked"
    assert response.chunks is not None and len(response.chunks) >= STREAM_CHUNKS
    assert response.body == expected_stream()


def test_streaming_response_with_http_client(server: ServerProcess) -> None:
    reply = fetch(server.host, server.port, "GET", "/stream/")
    assert reply.status == 200
    assert reply.body == expected_stream()


def test_file_response_exact_bytes(server: ServerProcess, blob: bytes) -> None:
    reply = fetch(server.host, server.port, "GET", f"/file/{BLOB_NAME}")
    assert reply.status == 200
    assert reply.header("Content-Length") == str(len(blob))
    assert reply.header("Content-Type") == "application/octet-stream"
    assert len(reply.body) == len(blob)
    assert reply.body == blob


def test_json_view(server: ServerProcess) -> None:
    reply = fetch(server.host, server.port, "GET", "/json/?a=1&a=2&b=%C3%A9t%C3%A9")
    assert reply.status == 200
    assert reply.header("Content-Type") == "application/json"
    assert reply.json() == {
        "method": "GET",
        "path": "/json/",
        "path_info": "/json/",
        "query": {"a": ["1", "2"], "b": ["été"]},
        "host": f"127.0.0.1:{server.port}",
        "secure": False,
    }


def test_not_found_with_debug_off(server: ServerProcess) -> None:
    reply = fetch(server.host, server.port, "GET", "/no/such/page")
    assert reply.status == 404
    assert b"Traceback" not in reply.body


def test_keep_alive_across_response_kinds(server: ServerProcess, blob: bytes) -> None:
    expected = {f"/file/{BLOB_NAME}": blob, "/stream/": expected_stream(), "/form/": None}
    conn = http.client.HTTPConnection(server.host, server.port, timeout=TIMEOUT)
    try:
        for _ in range(2):
            for path, body in expected.items():
                conn.request("GET", path)
                response = conn.getresponse()
                assert response.status == 200
                received = response.read()
                assert body is None or received == body, path
                assert not response.will_close, f"server closed after {path}"
    finally:
        conn.close()
