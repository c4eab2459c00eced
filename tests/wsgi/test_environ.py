"""The environ table (PEP 3333 / CGI), built from heads the real parser produces."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest

from pronghorn.http.events import RequestHead
from pronghorn.http.parser import RequestParser
from pronghorn.wsgi.environ import EnvironBuilder, ServerFacts
from pronghorn.wsgi.file_wrapper import FileWrapper

REQUIRED_STR = (
    "REQUEST_METHOD",
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "REQUEST_URI",
    "RAW_URI",
)


def parse_head(raw: bytes) -> RequestHead:
    events = RequestParser().feed(raw)
    head = events[0]
    assert isinstance(head, RequestHead), events
    return head


def build(raw: bytes, root_path: str = "", **facts: Any) -> dict[str, Any]:
    builder = EnvironBuilder(ServerFacts("127.0.0.1", "8080", root_path=root_path, **facts))
    return builder.build(parse_head(raw), ("10.0.0.7", 51234), io.BytesIO(), FileWrapper)


def test_required_keys_and_types() -> None:
    environ = build(b"GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\n\r\n")
    for key in REQUIRED_STR:
        assert type(environ[key]) is str, key
    assert environ["REQUEST_METHOD"] == "GET"
    assert environ["SCRIPT_NAME"] == ""
    assert environ["PATH_INFO"] == "/a/b"
    assert environ["QUERY_STRING"] == "x=1&y=2"
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("127.0.0.1", "8080")
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("10.0.0.7", "51234")
    assert environ["HTTP_HOST"] == "example.com"
    assert environ["wsgi.version"] == (1, 0)
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["wsgi.errors"] is sys.stderr
    assert environ["wsgi.run_once"] is False
    assert environ["wsgi.input_terminated"] is True
    assert environ["wsgi.file_wrapper"] is FileWrapper
    assert hasattr(environ["wsgi.input"], "read")
    assert "CONTENT_TYPE" not in environ and "CONTENT_LENGTH" not in environ


@pytest.mark.parametrize(("threads", "processes"), [(True, False), (False, True)])
def test_multithread_and_multiprocess_flags(threads: bool, processes: bool) -> None:
    environ = build(b"GET / HTTP/1.0\r\n\r\n", multithread=threads, multiprocess=processes)
    assert environ["wsgi.multithread"] is threads
    assert environ["wsgi.multiprocess"] is processes


@pytest.mark.parametrize(
    ("target", "path_info", "query"),
    [
        (b"/plain", "/plain", ""),
        (b"/caf%C3%A9", "/caf\xc3\xa9", ""),  # UTF-8 bytes, each as one latin-1 char
        (b"/a%20b%2Fc?q=%20x", "/a b/c", "q=%20x"),  # the query stays encoded
        (b"/%ff%00x", "/\xff\x00x", ""),
        (b"/p?", "/p", ""),
        (b"/p?a=1?b", "/p", "a=1?b"),
        (b"http://example.com/abs/x?y=1", "/abs/x", "y=1"),
    ],
)
def test_path_info_is_latin1_of_the_decoded_bytes(
    target: bytes, path_info: str, query: str
) -> None:
    raw = b"GET " + target + b" HTTP/1.1\r\nHost: example.com\r\n\r\n"
    environ = build(raw)
    assert environ["PATH_INFO"] == path_info
    assert environ["QUERY_STRING"] == query
    assert environ["REQUEST_URI"] == environ["RAW_URI"] == target.decode("latin-1")
    environ["PATH_INFO"].encode("latin-1")  # a native str that round-trips to the bytes


@pytest.mark.parametrize(
    ("target", "script_name", "path_info"),
    [
        (b"/app/x/y", "/app", "/x/y"),
        (b"/app", "/app", ""),
        (b"/app/", "/app", "/"),
        (b"/application", "/app", "/application"),  # not the prefix: a different path
        (b"/x/y", "/app", "/x/y"),  # a proxy already stripped it
        (b"/ap%70/z", "/app", "/z"),  # compared after decoding
    ],
)
def test_root_path_splits_script_name_and_path_info(
    target: bytes, script_name: str, path_info: str
) -> None:
    environ = build(b"GET " + target + b" HTTP/1.1\r\nHost: h\r\n\r\n", root_path="/app")
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == (script_name, path_info)
    assert environ["RAW_URI"] == target.decode("latin-1")


def test_content_headers_have_no_http_prefix() -> None:
    environ = build(
        b"POST /f HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc"
    )
    assert environ["CONTENT_TYPE"] == "text/plain"
    assert environ["CONTENT_LENGTH"] == "3"
    assert "HTTP_CONTENT_TYPE" not in environ and "HTTP_CONTENT_LENGTH" not in environ


def test_duplicate_headers_are_joined_and_cookies_use_semicolons() -> None:
    environ = build(
        b"GET / HTTP/1.1\r\nHost: h\r\nAccept: a/b\r\nX-Thing: 1\r\nCookie: a=1\r\n"
        b"accept: c/d\r\nCookie: b=2\r\nX-THING: 2\r\nx-thing: 3\r\n\r\n"
    )
    assert environ["HTTP_ACCEPT"] == "a/b, c/d"
    assert environ["HTTP_X_THING"] == "1, 2, 3"
    assert environ["HTTP_COOKIE"] == "a=1; b=2"


def test_repeated_fields_with_the_same_short_value_are_joined() -> None:
    """One-character and empty values decode to shared strings: a repeat is still a repeat."""
    environ = build(
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-A: 1\r\nX-E:\r\nX-E:\r\n"
        b"Cookie: a\r\nCookie: a\r\n\r\n"
    )
    assert environ["HTTP_X_A"] == "1, 1"
    assert environ["HTTP_X_E"] == ", "
    assert environ["HTTP_COOKIE"] == "a; a"


def test_header_values_are_latin1_strings() -> None:
    environ = build(b"GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf\xc3\xa9 \xff\r\n\r\n")
    assert environ["HTTP_X_NAME"] == "caf\xc3\xa9 \xff"
    assert environ["HTTP_X_NAME"].encode("latin-1") == b"caf\xc3\xa9 \xff"


def test_dashes_become_underscores_and_underscored_names_are_dropped() -> None:
    environ = build(
        b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.2.3.4\r\nX_Forwarded_For: evil\r\n\r\n"
    )
    assert environ["HTTP_X_FORWARDED_FOR"] == "1.2.3.4"


def test_http10_and_no_remote() -> None:
    builder = EnvironBuilder(ServerFacts("/tmp/s.sock", "0"))
    environ = builder.build(parse_head(b"GET / HTTP/1.0\r\n\r\n"), None, io.BytesIO(), FileWrapper)
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert environ["REMOTE_ADDR"] == ""
    assert "HTTP_HOST" not in environ


def test_environs_are_independent() -> None:
    builder = EnvironBuilder(ServerFacts("127.0.0.1", "80"))
    first = builder.build(
        parse_head(b"GET /1 HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\n"), None, None, None
    )
    first["SCRIPT_NAME"] = "/changed"
    second = builder.build(parse_head(b"GET /2 HTTP/1.1\r\nHost: b\r\n\r\n"), None, None, None)
    assert second["SCRIPT_NAME"] == ""
    assert "HTTP_X_A" not in second


def test_an_environ_holds_exactly_the_keys_of_its_request() -> None:
    # The per-server part keeps placeholders for the per-request keys (EnvironBuilder):
    # none may show through, and no other request's header may either.
    builder = EnvironBuilder(ServerFacts("127.0.0.1", "8080"))
    first = builder.build(
        parse_head(b"GET /1 HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\n"), ("10.0.0.7", 5), None, None
    )
    plain = builder.build(parse_head(b"GET /2 HTTP/1.0\r\n\r\n"), None, None, None)
    server_keys = {
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_SOFTWARE",
        "SCRIPT_NAME",
        "wsgi.version",
        "wsgi.url_scheme",
        "wsgi.errors",
        "wsgi.multithread",
        "wsgi.multiprocess",
        "wsgi.run_once",
        "wsgi.input_terminated",
    }
    request_keys = {*REQUIRED_STR, "wsgi.input", "wsgi.file_wrapper"} - server_keys
    assert set(first) == server_keys | request_keys | {"HTTP_HOST", "HTTP_X_A"}
    assert set(plain) == server_keys | request_keys - {"REMOTE_PORT"}
    assert all(not key.startswith(" ") for key in first)


def test_a_few_header_fields_do_not_grow_the_environ() -> None:
    # CPython: the copy of the per-server part has room for ~10 header fields, so adding
    # them makes no new table (a dict's size grows only with its table).
    builder = EnvironBuilder(ServerFacts("127.0.0.1", "8080"))
    fields = b"".join(b"X-F%d: v\r\n" % n for n in range(9))
    bare = builder.build(parse_head(b"GET / HTTP/1.0\r\n\r\n"), ("10.0.0.7", 5), None, None)
    head = parse_head(b"GET / HTTP/1.1\r\nHost: a\r\n" + fields + b"\r\n")
    full = builder.build(head, ("10.0.0.7", 5), None, None)
    assert len(full) == len(bare) + 10
    assert sys.getsizeof(full) == sys.getsizeof(bare)


def test_each_client_gets_its_own_port_whatever_came_before() -> None:
    # The builder remembers the last address's port as text: clients that take turns
    # (and equal addresses in new tuples) must still each get their own.
    builder = EnvironBuilder(ServerFacts("127.0.0.1", "80"))
    head = parse_head(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    first, second = ("10.0.0.1", 1111), ("10.0.0.2", 2222)
    for remote in (first, second, first, first, ("10.0.0.1", 3333), second):
        environ = builder.build(head, remote, None, None)
        assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == (remote[0], str(remote[1]))
    environ = builder.build(head, None, None, None)
    assert "REMOTE_PORT" not in environ
    assert builder.build(head, second, None, None)["REMOTE_PORT"] == "2222"
