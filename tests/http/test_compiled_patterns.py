"""Code patterns that are right in Python but wrong once mypyc compiles them (docs/design.md,
"Writing code that compiles correctly"). Each test passes on the pure build and fails on the
compiled one if the pattern comes back; `make test` runs both."""

from __future__ import annotations

from pronghorn.dispatch.request_hooks import request_view, response_view
from pronghorn.http.events import ProtocolError, RequestHead
from pronghorn.http.parser import RequestParser
from pronghorn.wsgi.environ import EnvironBuilder, ServerFacts
from pronghorn.wsgi.proxies import TrustedProxies
from pronghorn.wsgi.runner import Outcome


def test_an_error_set_by_a_call_inside_feed_is_reported() -> None:
    # feed() must not narrow `_error` to None on entry: the head check below sets it.
    parser = RequestParser()
    events = parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert [type(event) for event in events] == [ProtocolError]
    assert parser.failed
    assert parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n") == []


def test_an_error_after_a_good_request_in_the_same_read_is_reported() -> None:
    parser = RequestParser()
    data = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
    events = parser.feed(data)
    assert type(events[0]) is RequestHead
    assert type(events[-1]) is ProtocolError


def test_an_environ_builder_extends_without_copy_copy() -> None:
    builder = EnvironBuilder(ServerFacts("127.0.0.1", "8443", url_scheme="https"))
    extended = builder.extended({"SSL_PROTOCOL": "TLSv1.3"})
    assert extended is not builder
    head = RequestParser().feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")[0]
    assert isinstance(head, RequestHead)
    environ = extended.build(head, ("127.0.0.1", 1), object(), object())
    assert environ["SSL_PROTOCOL"] == "TLSv1.3"
    assert "SSL_PROTOCOL" not in builder.build(head, ("127.0.0.1", 1), object(), object())


def test_hooks_may_add_attributes_to_the_request_and_response_they_get() -> None:
    # Instances of a compiled class take no new attributes: the views must not be one.
    head = RequestParser().feed(b"GET /a?b HTTP/1.1\r\nHost: a\r\n\r\n")[0]
    assert isinstance(head, RequestHead)
    request = request_view(head, ("127.0.0.1", 1))
    request.started = 1.5
    assert (request.path, request.query, request.started) == ("/a", "b", 1.5)
    response = response_view(Outcome(200, 2, True, [("Content-Length", "2")]))
    response.noted = True
    assert (response.status, response.sent, response.noted) == ("200 OK", 2, True)


def test_a_forwarded_header_with_no_element_leaves_the_environ_alone() -> None:
    # `Forwarded: ,` has no element: the walk over them must not find one at index -1.
    proxies = TrustedProxies(["*"], ["forwarded"])
    builder = EnvironBuilder(ServerFacts("127.0.0.1", "8000", proxies=proxies))
    head = RequestParser().feed(b"GET / HTTP/1.1\r\nHost: a\r\nForwarded: ,\r\n\r\n")[0]
    assert isinstance(head, RequestHead)
    environ = builder.build(head, ("127.0.0.1", 1), object(), object())
    assert (environ["REMOTE_ADDR"], environ["wsgi.url_scheme"]) == ("127.0.0.1", "http")
