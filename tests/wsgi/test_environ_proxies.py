"""The environ a trusted proxy's headers make, and the one an untrusted peer's leave alone;
SERVER_NAME/SERVER_PORT from the Host header on a Unix socket."""

from __future__ import annotations

import io
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pronghorn.http.events import RequestHead
from pronghorn.http.parser import RequestParser
from pronghorn.wsgi.environ import EnvironBuilder, ServerFacts, client_address
from pronghorn.wsgi.file_wrapper import FileWrapper
from pronghorn.wsgi.proxies import TrustedProxies

LOOPBACK = ("127.0.0.1", "::1")
DEFAULT = ("x-forwarded-for", "x-forwarded-proto")
ALL_X = (*DEFAULT, "x-forwarded-host", "x-forwarded-port", "x-forwarded-prefix")
PROXY = ("127.0.0.1", 40000)  # nginx's side of the upstream connection


def parse_head(raw: bytes) -> RequestHead:
    events = RequestParser().feed(raw)
    head = events[0]
    assert isinstance(head, RequestHead), events
    return head


def request(*headers: str, target: str = "/a/b?x=1", version: str = "1.1") -> RequestHead:
    lines = "".join(f"{header}\r\n" for header in headers)
    return parse_head(f"GET {target} HTTP/{version}\r\n{lines}\r\n".encode("latin-1"))


def builder(
    allow: tuple[str, ...] = LOOPBACK,
    headers: tuple[str, ...] = DEFAULT,
    *,
    server: tuple[str, str] = ("127.0.0.1", "8000"),
    unix: bool = False,
    root_path: str = "",
) -> EnvironBuilder:
    facts = ServerFacts(
        *server, root_path=root_path, server_from_host=unix, proxies=TrustedProxies(allow, headers)
    )
    return EnvironBuilder(facts)


def build(
    b: EnvironBuilder, head: RequestHead, remote: tuple[str, int] | None = PROXY
) -> dict[str, Any]:
    return b.build(head, remote, io.BytesIO(), FileWrapper)


def test_nginx_on_the_same_host_just_works() -> None:
    head = request(
        "Host: shop.example",
        "X-Forwarded-For: 203.0.113.9",
        "X-Forwarded-Proto: https",
        "X-Real-IP: 203.0.113.9",
    )
    environ = build(builder(), head)
    assert environ["REMOTE_ADDR"] == "203.0.113.9"
    assert "REMOTE_PORT" not in environ  # the port was nginx's, not the client's
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["HTTP_HOST"] == "shop.example"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("shop.example", "443")
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("", "/a/b")
    # The headers stay for the app to read, as they came.
    assert environ["HTTP_X_FORWARDED_FOR"] == "203.0.113.9"
    assert environ["HTTP_X_FORWARDED_PROTO"] == "https"


def test_forged_headers_from_an_untrusted_peer_change_nothing() -> None:
    head = request(
        "Host: 127.0.0.1:8000",
        "X-Forwarded-For: 1.2.3.4",
        "X-Forwarded-Proto: https",
        "X-Forwarded-Host: evil.example",
        "X-Forwarded-Port: 443",
        "X-Forwarded-Prefix: /evil",
        "Forwarded: for=1.2.3.4;proto=https;host=evil.example",
    )
    untrusted = ("203.0.113.50", 51000)
    trusting_all_headers = builder(("10.0.0.0/8",), ALL_X)
    environ = build(trusting_all_headers, head, untrusted)
    plain = EnvironBuilder(ServerFacts("127.0.0.1", "8000"))
    expected = build(plain, head, untrusted)
    environ.pop("wsgi.input")
    expected.pop("wsgi.input")
    assert environ == expected
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("203.0.113.50", "51000")
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["HTTP_X_FORWARDED_FOR"] == "1.2.3.4"  # kept, never acted on


def test_without_proxy_headers_a_trusted_peer_is_itself() -> None:
    environ = build(builder(), request("Host: localhost:8000"))
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == (PROXY[0], str(PROXY[1]))
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("127.0.0.1", "8000")
    assert environ["wsgi.url_scheme"] == "http"


def test_a_port_in_the_chain_becomes_remote_port() -> None:
    environ = build(builder(), request("Host: h", "X-Forwarded-For: [2001:db8::1]:4711"))
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("2001:db8::1", "4711")


def test_host_port_from_the_host_header_when_only_the_scheme_is_forwarded() -> None:
    head = request("Host: shop.example:8443", "X-Forwarded-Proto: https")
    environ = build(builder(), head)
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("shop.example", "8443")
    assert environ["REMOTE_ADDR"] == "127.0.0.1"  # no X-Forwarded-For: the peer


def test_forwarded_host_and_port() -> None:
    b = builder(headers=ALL_X)
    head = request(
        "Host: 127.0.0.1:8000", "X-Forwarded-Host: shop.example", "X-Forwarded-Port: 8443"
    )
    environ = build(b, head)
    assert environ["HTTP_HOST"] == "shop.example:8443"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("shop.example", "8443")
    # The scheme's default port is not written into the Host.
    head = request(
        "Host: 127.0.0.1:8000",
        "X-Forwarded-Host: shop.example:8080",
        "X-Forwarded-Port: 443",
        "X-Forwarded-Proto: https",
    )
    environ = build(b, head)
    assert environ["HTTP_HOST"] == "shop.example"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("shop.example", "443")
    # An IPv6 host keeps its brackets in HTTP_HOST and loses them in SERVER_NAME.
    environ = build(b, request("Host: h", "X-Forwarded-Host: [2001:db8::5]:8080"))
    assert environ["HTTP_HOST"] == "[2001:db8::5]:8080"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("2001:db8::5", "8080")


def test_forwarded_port_without_a_host_header() -> None:
    environ = build(builder(headers=ALL_X), request("X-Forwarded-Port: 8443", version="1.0"))
    assert "HTTP_HOST" not in environ
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("127.0.0.1", "8443")


def test_forwarded_prefix_goes_before_script_name_and_path_info_stays() -> None:
    head = request("Host: h", "X-Forwarded-Prefix: /shop/", target="/mnt/cart?x=1")
    environ = build(builder(headers=ALL_X, root_path="/mnt"), head)
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("/shop/mnt", "/cart")
    environ = build(builder(headers=ALL_X), request("Host: h", "X-Forwarded-Prefix: /"))
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("", "/a/b")


def test_rfc7239_forwarded() -> None:
    b = builder(headers=("forwarded",))
    head = request(
        "Host: 127.0.0.1:8000",
        "Forwarded: for=6.6.6.6;proto=http;host=evil.example",
        'Forwarded: For="[2001:db8:cafe::17]:4711";Proto=HTTPS;Host="shop.example"',
    )
    environ = build(b, head)
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("2001:db8:cafe::17", "4711")
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["HTTP_HOST"] == "shop.example"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("shop.example", "443")


def test_malformed_values_are_ignored_and_the_request_built() -> None:
    b = builder(headers=ALL_X)
    head = request(
        "Host: h:81",
        "X-Forwarded-For: not-an-address",
        "X-Forwarded-Proto: javascript",
        "X-Forwarded-Host: a b",
        "X-Forwarded-Port: 0",
        "X-Forwarded-Prefix: ../..",
    )
    environ = build(b, head)
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("127.0.0.1", "40000")
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["HTTP_HOST"] == "h:81"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("127.0.0.1", "8000")
    assert environ["SCRIPT_NAME"] == ""


def test_unix_socket_server_name_and_port_come_from_host() -> None:
    b = builder((), (), server=("/run/p.sock", "0"), unix=True)
    cases = [
        ("Host: shop.example:8080", ("shop.example", "8080")),
        ("Host: shop.example", ("shop.example", "80")),
        ("Host: [::1]:9000", ("::1", "9000")),
        ("Host: [::1]", ("::1", "80")),
        ("Host: shop.example:", ("shop.example", "80")),
    ]
    for host, server in cases:
        environ = build(b, request(host), None)
        assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == server, host
        assert environ["REMOTE_ADDR"] == ""
    environ = build(b, request(version="1.0"), None)
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("/run/p.sock", "80")


def test_unix_socket_peer_is_a_trusted_proxy() -> None:
    b = builder((), DEFAULT, server=("/run/p.sock", "0"), unix=True)
    head = request("Host: shop.example", "X-Forwarded-For: 203.0.113.9", "X-Forwarded-Proto: https")
    environ = build(b, head, None)
    assert environ["REMOTE_ADDR"] == "203.0.113.9"
    assert environ["wsgi.url_scheme"] == "https"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("shop.example", "443")


def test_tcp_listener_keeps_its_own_name_without_proxy_headers() -> None:
    environ = build(builder(), request("Host: shop.example:9999"))
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("127.0.0.1", "8000")


def test_client_for_the_access_log() -> None:
    b = builder()
    assert b.client(request("Host: h", "X-Forwarded-For: 203.0.113.9"), PROXY) == (
        "203.0.113.9",
        0,
    )
    assert b.client(request("Host: h", "x-forwarded-for: [2001:db8::1]:7"), PROXY) == (
        "2001:db8::1",
        7,
    )
    assert b.client(request("Host: h"), PROXY) == PROXY
    assert b.client(request("Host: h", "X-Forwarded-For: 1.2.3.4"), ("10.0.0.1", 5)) == (
        "10.0.0.1",
        5,
    )
    assert b.client(request("Host: h"), None) is None
    assert client_address({"REMOTE_ADDR": "", "REMOTE_PORT": "1"}) is None
    assert client_address({"REMOTE_ADDR": "192.0.2.1", "REMOTE_PORT": "x"}) == ("192.0.2.1", 0)


_FIELD_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60)
_PROXY_HEADERS = (
    "Forwarded",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    "X-Forwarded-Port",
    "X-Forwarded-Prefix",
)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.tuples(st.sampled_from(_PROXY_HEADERS), _FIELD_TEXT), max_size=6),
    trust_forwarded=st.booleans(),
    unix=st.booleans(),
)
def test_any_header_values_build_a_valid_environ(
    values: list[tuple[str, str]], trust_forwarded: bool, unix: bool
) -> None:
    headers = ("forwarded", "x-forwarded-prefix") if trust_forwarded else ALL_X
    b = builder(("*",), headers, unix=unix)
    raw = b"GET /p HTTP/1.1\r\nHost: h\r\n"
    for name, value in values:
        raw += name.encode() + b": " + value.strip().encode("latin-1") + b"\r\n"
    events = RequestParser().feed(raw + b"\r\n")
    head = events[0]
    if not isinstance(head, RequestHead):
        return  # the parser refused the bytes: nothing to build
    environ = build(b, head, None if unix else PROXY)
    for key in ("REMOTE_ADDR", "SERVER_NAME", "SERVER_PORT", "SCRIPT_NAME", "PATH_INFO"):
        assert type(environ[key]) is str, key
        environ[key].encode("latin-1")
    assert environ["wsgi.url_scheme"] in ("http", "https")
    assert environ["SERVER_PORT"].isdigit()
    assert environ["SCRIPT_NAME"] == "" or environ["SCRIPT_NAME"].startswith("/")
