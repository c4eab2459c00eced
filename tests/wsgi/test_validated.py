"""PEP 3333 conformance under `wsgiref.validate.validator`, over real sockets."""

from __future__ import annotations

import json
import re

import pytest

from rawhttp import RawClient, request
from serverproc import ServerProcess

PROBLEMS = re.compile(r"Traceback|AssertionError|WSGIWarning|Exception ignored|error handling")
BODY = b"line one\nline two is longer\n\nlast line without newline"


def connect(server: ServerProcess) -> RawClient:
    return RawClient.connect(server.host, server.port)


def assert_clean(server: ServerProcess) -> None:
    # A sentinel request last, so everything before it has been logged.
    with connect(server) as client:
        client.send(request("GET", "/mnt/nothing-here"))
        assert client.response().status == 404
    log = server.log_text()
    assert PROBLEMS.search(log) is None, log


@pytest.mark.parametrize("mode", ["read", "readline", "readline-n", "readlines", "iter"])
@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_input_modes_under_the_validator(
    validated_server: ServerProcess, mode: str, framing: str
) -> None:
    if framing == "length":
        raw = request("POST", f"/mnt/body?{mode}", body=BODY)
    else:
        chunks = b"".join(
            b"%x\r\n%b\r\n" % (len(BODY[i : i + 9]), BODY[i : i + 9])
            for i in range(0, len(BODY), 9)
        )
        raw = request(
            "POST",
            f"/mnt/body?{mode}",
            [("Transfer-Encoding", "chunked")],
            body=chunks + b"0\r\n\r\n",
        )
    with connect(validated_server) as client:
        client.send(raw)
        resp = client.response()
        assert (resp.status, resp.body) == (200, BODY)
    assert_clean(validated_server)


@pytest.mark.parametrize(
    ("target", "body"),
    [
        ("/mnt/stream", b"part 0\npart 1\npart 2\n"),
        ("/mnt/write", b"written returned"),
        ("/mnt/file", b"file contents " * 1000),
        ("/mnt/body?read", b""),
    ],
)
def test_responses_under_the_validator(
    validated_server: ServerProcess, target: str, body: bytes
) -> None:
    with connect(validated_server) as client:
        client.send(request("GET", target))
        resp = client.response()
        assert (resp.status, resp.body) == (200, body)
        client.send(request("HEAD", target))
        head = client.response("HEAD")
        assert head.status == 200
        client.send(request("GET", "/mnt/nocontent"))
        assert client.response().status == 204
    assert_clean(validated_server)


def test_environ_over_a_real_socket(validated_server: ServerProcess) -> None:
    with connect(validated_server) as client:
        client.send(
            request(
                "GET",
                "/mnt/environ/caf%C3%A9%20x?a=%20b&c",
                [
                    ("Cookie", "a=1"),
                    ("Cookie", "b=2"),
                    ("X-Dup", "1"),
                    ("X-Dup", "2"),
                    ("Content-Type", "text/x"),
                    ("Host", "example.org:81"),
                ],
            )
        )
        environ = json.loads(client.response().body)
        port = client.local_port()
    assert environ["SCRIPT_NAME"] == "/mnt"
    assert environ["PATH_INFO"] == "/environ/caf\u00c3\u00a9 x"
    assert environ["QUERY_STRING"] == "a=%20b&c"
    assert environ["REQUEST_URI"] == environ["RAW_URI"] == "/mnt/environ/caf%C3%A9%20x?a=%20b&c"
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["REMOTE_PORT"] == str(port)
    assert environ["SERVER_PORT"] == str(validated_server.port)
    assert environ["SERVER_NAME"]
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert environ["HTTP_HOST"] == "example.org:81"
    assert environ["HTTP_COOKIE"] == "a=1; b=2"
    assert environ["HTTP_X_DUP"] == "1, 2"
    assert environ["CONTENT_TYPE"] == "text/x"
    assert "HTTP_CONTENT_TYPE" not in environ
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["wsgi.multithread"] is True
    assert environ["wsgi.multiprocess"] is False
    assert environ["wsgi.input_terminated"] is True
    assert_clean(validated_server)


def test_path_outside_the_root_path_is_kept_whole(validated_server: ServerProcess) -> None:
    with connect(validated_server) as client:
        client.send(request("GET", "/environ"))
        environ = json.loads(client.response().body)
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("/mnt", "/environ")


def test_client_disconnect_mid_body_under_the_validator(validated_server: ServerProcess) -> None:
    for _ in range(3):
        with connect(validated_server) as client:
            client.send(request("POST", "/mnt/body?read", [("Content-Length", "100")]) + b"abc")
    assert_clean(validated_server)


def test_client_disconnect_mid_stream_still_closes_the_validated_iterable(
    validated_server: ServerProcess,
) -> None:
    # The validator itself complains ("garbage collected without being closed") if the
    # server forgets close(); a vanished client must not make it forget.
    for i in range(3):
        with connect(validated_server) as client:
            client.send(request("GET", f"/mnt/endless?gone{i}"))
            assert client.head().status == 200
        validated_server.wait_for_log(f"finished gone{i}", 5.0)
    assert_clean(validated_server)
