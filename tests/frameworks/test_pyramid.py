"""The Pyramid app in pyramidapp.py, served by the real pronghorn command.

The server is started from an unrelated working directory with ``--chdir``
and loads the app through the factory form ``pyramidapp:make_app()``.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest
from fwlayout import FRAMEWORKS_DIR
from webclient import fetch, multipart

from serverproc import Serve, ServerProcess

APP = "pyramidapp:make_app()"


@pytest.fixture(scope="module")
def server(serve_module: Serve, tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    return serve_module(
        "--bind",
        "127.0.0.1:0",
        "--chdir",
        str(FRAMEWORKS_DIR),
        APP,
        cwd=tmp_path_factory.mktemp("elsewhere"),
    )


def test_json_renderer(server: ServerProcess) -> None:
    reply = fetch(server.host, server.port, "GET", "/json?q=a+b&q=%C3%A7")
    assert reply.status == 200
    assert reply.header("Content-Type") == "application/json"
    assert reply.json() == {
        "method": "GET",
        "path": "/json",
        "script_name": "",
        "params": {"q": ["a b", "ç"]},
    }


def test_non_ascii_path_segment(server: ServerProcess) -> None:
    reply = fetch(server.host, server.port, "GET", "/hello/J%C3%BCrgen%20M%C3%BCller")
    assert reply.status == 200
    assert reply.json() == {"name": "Jürgen Müller"}


def test_json_post(server: ServerProcess) -> None:
    payload = [{"id": 1, "label": "ünïcode"}, {"id": 2, "label": "x" * 5000}]
    reply = fetch(
        server.host,
        server.port,
        "POST",
        "/items",
        json.dumps(payload).encode(),
        {"Content-Type": "application/json"},
    )
    assert reply.status == 201
    assert reply.json() == {"received": payload, "count": 2}


def test_form_page(server: ServerProcess) -> None:
    reply = fetch(server.host, server.port, "GET", "/form")
    assert reply.status == 200
    assert '<form method="post" action="/form">' in reply.text()


def test_urlencoded_form_post(server: ServerProcess) -> None:
    body = urlencode([("name", "Ada Lovelace"), ("colour", "red"), ("colour", "grün")]).encode()
    reply = fetch(
        server.host,
        server.port,
        "POST",
        "/form",
        body,
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.status == 200
    assert reply.text() == "Hello Ada Lovelace (colours: red, grün)"


def test_multipart_form_post(server: ServerProcess) -> None:
    body, content_type = multipart({"name": "Grace", "colour": "blue"}, {})
    reply = fetch(server.host, server.port, "POST", "/form", body, {"Content-Type": content_type})
    assert reply.status == 200
    assert reply.text() == "Hello Grace (colours: blue)"


def test_method_not_matching_any_view(server: ServerProcess) -> None:
    assert fetch(server.host, server.port, "GET", "/items").status == 404


def test_graceful_stop_and_access_log(serve: Serve, tmp_path: Path) -> None:
    server = serve(
        "--bind",
        "127.0.0.1:0",
        "--access-logfile",
        "-",
        "--chdir",
        str(FRAMEWORKS_DIR),
        APP,
        cwd=tmp_path,
    )
    assert fetch(server.host, server.port, "GET", "/json?logged=1").status == 200
    # The default access format is the combined log format, as gunicorn's.
    log = server.wait_for_stdout("GET /json?logged=1")
    assert '"GET /json?logged=1 HTTP/1.1" 200 ' in log, log
    assert server.stop() == 0
    assert "Traceback" not in server.log_text()
