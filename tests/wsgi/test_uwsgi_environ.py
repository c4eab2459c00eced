"""The environ of a uwsgi request (`pronghorn.wsgi.uwsgi_environ`), from packets the real
parser reads: what nginx's stock uwsgi_params sends, and what is filled in or dropped."""

from __future__ import annotations

import io
import sys
import wsgiref.validate
from collections.abc import Iterable, Sequence
from typing import Any

import pytest

from pronghorn.http.uwsgi import UwsgiHead, UwsgiParser
from pronghorn.wsgi.environ import ServerFacts
from pronghorn.wsgi.file_wrapper import FileWrapper
from pronghorn.wsgi.uwsgi_environ import UwsgiEnvironBuilder
from uwsgipacket import Pair, nginx_variables, packet

PEER = ("127.0.0.1", 40000)  # nginx's end of the connection


def head_of(pairs: Sequence[Pair], body: bytes = b"") -> UwsgiHead:
    events = UwsgiParser().feed(packet(pairs, body))
    head = events[0]
    assert isinstance(head, UwsgiHead), events
    return head


def build(
    pairs: Sequence[Pair],
    *,
    root_path: str = "",
    unix: bool = False,
    remote: tuple[str, int] | None = PEER,
) -> dict[str, Any]:
    facts = ServerFacts("127.0.0.1", "3031", root_path=root_path, server_from_host=unix)
    builder = UwsgiEnvironBuilder(facts, sys.stderr)
    return builder.build(head_of(pairs), remote, io.BytesIO(), FileWrapper)


def test_what_nginx_sends_is_the_environ() -> None:
    pairs = nginx_variables(
        "POST",
        "/a%20b/c?x=1",
        body=b"abc",
        content_type="text/plain",
        headers=[("HTTP_HOST", "example.com"), ("HTTP_USER_AGENT", "curl/8")],
    )
    environ = build(pairs)
    assert environ["REQUEST_METHOD"] == "POST"
    assert environ["REQUEST_URI"] == environ["RAW_URI"] == "/a%20b/c?x=1"
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("", "/a b/c")
    assert environ["QUERY_STRING"] == "x=1"
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert (environ["CONTENT_TYPE"], environ["CONTENT_LENGTH"]) == ("text/plain", "3")
    # The client nginx names, not nginx itself.
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("203.0.113.9", "54321")
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("example.com", "80")
    assert environ["HTTP_HOST"] == "example.com"
    assert environ["HTTP_USER_AGENT"] == "curl/8"
    assert environ["DOCUMENT_ROOT"] == "/usr/share/nginx/html"  # passed through, as uWSGI
    assert environ["REQUEST_SCHEME"] == "http"
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["SERVER_SOFTWARE"] == "pronghorn"
    assert environ["wsgi.input_terminated"] is True
    assert environ["wsgi.file_wrapper"] is FileWrapper


@pytest.mark.parametrize(
    ("pairs", "scheme"),
    [
        ([("HTTPS", "on"), ("REQUEST_SCHEME", "https")], "https"),
        ([("HTTPS", "ON")], "https"),
        ([("HTTPS", "1")], "https"),
        ([("HTTPS", "off"), ("REQUEST_SCHEME", "http")], "http"),
        ([("REQUEST_SCHEME", "https")], "https"),
        ([("REQUEST_SCHEME", "ftp")], "http"),
        ([("UWSGI_SCHEME", "https")], "https"),
        ([("UWSGI_SCHEME", "http"), ("HTTPS", "on")], "http"),  # uWSGI's own variable first
        ([("UWSGI_SCHEME", "gopher"), ("HTTPS", "on")], "https"),
        ([("wsgi.url_scheme", "https")], "http"),  # the wsgi.* keys are the server's
        ([], "http"),
    ],
)
def test_scheme(pairs: list[Pair], scheme: str) -> None:
    environ = build([("REQUEST_METHOD", "GET"), *pairs])
    assert environ["wsgi.url_scheme"] == scheme


def test_wsgi_keys_cannot_come_from_the_packet() -> None:
    environ = build([("REQUEST_METHOD", "GET"), ("wsgi.input", "x"), ("wsgi.version", "9")])
    assert isinstance(environ["wsgi.input"], io.BytesIO)
    assert environ["wsgi.version"] == (1, 0)


@pytest.mark.parametrize(
    ("script", "path", "root", "expected"),
    [
        (None, "/app/x", "", ("", "/app/x")),
        ("/app", "/app/x", "", ("/app", "/x")),  # stripped: the app must not see it twice
        ("/app", "/app", "", ("/app", "")),
        ("/app/", "/app/x", "", ("/app", "/x")),
        ("/app", "/x", "", ("/app", "/x")),  # nginx already stripped it
        ("/app", "/application/x", "", ("/app", "/application/x")),
        (None, "/api/x", "/api", ("/api", "/x")),  # --root-path when nginx sends none
        ("/app", "/app/x", "/api", ("/app", "/x")),  # what nginx says wins
        ("", "/api/x", "/api", ("", "/api/x")),
    ],
)
def test_script_name(script: str | None, path: str, root: str, expected: tuple[str, str]) -> None:
    pairs: list[Pair] = [("REQUEST_METHOD", "GET"), ("PATH_INFO", path)]
    if script is not None:
        pairs.append(("SCRIPT_NAME", script))
    environ = build(pairs, root_path=root)
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == expected


def test_what_pep_3333_does_not_want_is_dropped() -> None:
    pairs = nginx_variables("GET", "/", headers=[("HTTP_CONTENT_TYPE", "text/plain")])
    environ = build(pairs)
    assert "CONTENT_TYPE" not in environ and "CONTENT_LENGTH" not in environ  # sent empty
    assert "HTTP_CONTENT_TYPE" not in environ


def test_a_chunked_body_nginx_counted_has_a_length_and_no_transfer_encoding() -> None:
    headers = [("HTTP_HOST", "example.com"), ("HTTP_TRANSFER_ENCODING", "chunked")]
    pairs = nginx_variables("POST", "/", body=b"abcd", headers=headers)
    environ = build(pairs)
    assert environ["CONTENT_LENGTH"] == "4"
    assert "HTTP_TRANSFER_ENCODING" not in environ


def test_what_nginx_did_not_send_is_filled_in() -> None:
    environ = build([("REQUEST_METHOD", "GET"), ("PATH_INFO", "/a b"), ("QUERY_STRING", "q")])
    assert environ["REQUEST_URI"] == "/a%20b?q"
    assert environ["PATH_INFO"] == "/a b"
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("127.0.0.1", "3031")
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == (PEER[0], str(PEER[1]))
    environ = build([("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/x%41?y")])
    assert (environ["PATH_INFO"], environ["QUERY_STRING"]) == ("/xA", "y")


def test_on_a_unix_socket_without_server_name_the_host_names_the_server() -> None:
    pairs: list[Pair] = [("REQUEST_METHOD", "GET"), ("HTTP_HOST", "example.com:8443")]
    environ = build(pairs, unix=True, remote=None)
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("example.com", "8443")
    assert environ["REMOTE_ADDR"] == ""
    environ = build(nginx_variables(https=True), unix=True, remote=None)
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("example.com", "443")
    assert environ["REMOTE_ADDR"] == "203.0.113.9"


def test_the_access_log_client_is_the_one_nginx_names() -> None:
    facts = ServerFacts("127.0.0.1", "3031")
    builder = UwsgiEnvironBuilder(facts, sys.stderr)
    assert builder.client(head_of(nginx_variables()), PEER) == ("203.0.113.9", 54321)
    head = head_of([("REQUEST_METHOD", "GET"), ("REMOTE_ADDR", "::1"), ("REMOTE_PORT", "x")])
    assert builder.client(head, PEER) == ("::1", 0)
    assert builder.client(head_of([("REQUEST_METHOD", "GET")]), PEER) == PEER


@pytest.mark.parametrize(
    "pairs",
    [
        nginx_variables("POST", "/p?q=1", body=b"abc", content_type="text/plain"),
        nginx_variables("GET", "/", https=True, headers=[("HTTP_COOKIE", "a=1")]),
        [("REQUEST_METHOD", "GET")],
    ],
)
def test_the_environ_passes_wsgiref_validate(pairs: list[Pair]) -> None:
    seen: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen.append(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    environ = build(pairs)
    environ["wsgi.input"] = io.BytesIO(b"abc")
    result = wsgiref.validate.validator(app)(environ, lambda status, headers, exc=None: None)
    assert list(result) == [b"ok"]
    result.close()  # type: ignore[attr-defined]
    assert seen
