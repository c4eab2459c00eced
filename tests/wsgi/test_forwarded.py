"""The syntax of proxy headers (pronghorn.wsgi.forwarded), without any notion of trust."""

from __future__ import annotations

import pytest

from pronghorn.wsgi.forwarded import (
    UNREADABLE,
    Hop,
    Node,
    canonical_ip,
    forwarded_elements,
    host,
    list_items,
    parse_hop,
    parse_node,
    parse_port,
    prefix,
    scheme,
    split_host,
)


@pytest.mark.parametrize(
    ("text", "node"),
    [
        ("192.0.2.43", Node("192.0.2.43")),
        ("192.0.2.43:47011", Node("192.0.2.43", "47011")),
        ("192.0.2.43:0080", Node("192.0.2.43", "80")),
        ("[2001:db8:cafe::17]", Node("2001:db8:cafe::17")),
        ("[2001:db8::1]:4711", Node("2001:db8::1", "4711")),
        ("2001:DB8:0:0::1", Node("2001:db8::1")),  # bare IPv6, canonical form
        ("::ffff:192.0.2.1", Node("192.0.2.1")),
        ("[::ffff:c000:201]:80", Node("192.0.2.1", "80")),
        ("192.0.2.43:_abc", Node("192.0.2.43")),  # obfuscated port: address kept
        ("unknown", None),
        ("_hidden", None),
        ("_SEVKISEK", None),
        ("example.com", None),
        ("192.0.2.43:99999", None),
        ("192.0.2.43:", None),
        ("[192.0.2.43]", None),  # brackets hold IPv6 only
        ("[2001:db8::1", None),
        ("[2001:db8::1]x", None),
        ("2001:db8::1:4711:x", None),
        ("", None),
        ("1.2.3.4 5.6.7.8", None),
    ],
)
def test_parse_node(text: str, node: Node | None) -> None:
    assert parse_node(text) == node


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("2001:DB8:0::1", "2001:db8::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("::", "::"),
        ("01.2.3.4", None),  # no leading zeros (inet_aton would read octal)
        ("1.2.3", None),
        ("0x7f.0.0.1", None),
        (" 192.0.2.1", None),
        ("192.0.2.256", None),
        ("fe80::1%eth0", None),
        ("1::2::3", None),
        ("caf\xe9", None),
        ("192.0.2.1\x00", None),
        ("", None),
    ],
)
def test_canonical_ip(text: str, canonical: str | None) -> None:
    assert canonical_ip(text) == canonical


@pytest.mark.parametrize(
    ("value", "elements"),
    [
        ("for=a", ["for=a"]),
        ("for=a, for=b ,for=c", ["for=a", "for=b", "for=c"]),
        ('for="[::1]:1", for=b', ['for="[::1]:1"', "for=b"]),
        ('for=a;ext="x, y", for=b', ['for=a;ext="x, y"', "for=b"]),  # comma inside quotes
        ('for=a;ext="\\", for=b', ['for=a;ext="\\", for=b']),  # escaped quote: one element
        ("for=a,, ,for=b", ["for=a", "for=b"]),  # empty list elements are dropped
        ('for="unclosed, for=b', ['for="unclosed, for=b']),
        ("", []),
    ],
)
def test_forwarded_elements(value: str, elements: list[str]) -> None:
    assert forwarded_elements(value) == elements


@pytest.mark.parametrize(
    ("element", "hop"),
    [
        ("for=192.0.2.60;proto=http;by=203.0.113.43", Hop(Node("192.0.2.60"), "http")),
        ('For="[2001:db8::1]:4711";PROTO=HTTPS', Hop(Node("2001:db8::1", "4711"), "https")),
        ('for=192.0.2.1;host="example.com:8443"', Hop(Node("192.0.2.1"), None, "example.com:8443")),
        ("host=example.com; proto=https", Hop(None, "https", "example.com")),  # OWS at ;
        ("for=_hidden;proto=https", Hop(None, "https")),
        ("for=unknown", Hop()),
        ('for="\\1\\9\\2.0.2.1"', Hop(Node("192.0.2.1"))),  # quoted-pairs are unescaped
        ("for=192.0.2.1;;proto=http;", Hop(Node("192.0.2.1"), "http")),  # empty pairs
        ("for=192.0.2.1;ext=whatever", Hop(Node("192.0.2.1"))),
        ("proto=gopher;for=192.0.2.1", Hop(Node("192.0.2.1"))),  # scheme refused
        ("host=exa$mple;for=192.0.2.1", Hop(Node("192.0.2.1"))),  # host refused
        ("for=192.0.2.1;for=192.0.2.2", UNREADABLE),  # a parameter twice
        ("for=[2001:db8::1]", UNREADABLE),  # IPv6 must be quoted
        ("for=192.0.2.1:80", UNREADABLE),  # so must a port
        ("for = 192.0.2.1", UNREADABLE),
        ("for=", UNREADABLE),
        ("192.0.2.1", UNREADABLE),
        ('for="unclosed', UNREADABLE),
    ],
)
def test_parse_hop(element: str, hop: Hop) -> None:
    assert parse_hop(element) == hop


@pytest.mark.parametrize(
    ("value", "expected"),
    [("https", "https"), ("HTTP", "http"), (" https ", "https"), ("ws", None), ("", None)],
)
def test_scheme(value: str, expected: str | None) -> None:
    assert scheme(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("example.com", "example.com"),
        ("Example.COM:8443", "Example.COM:8443"),
        ("[2001:db8::1]:443", "[2001:db8::1]:443"),
        ("192.0.2.1", "192.0.2.1"),
        ("example.com:70000", None),
        ("example.com:", None),
        ("exa mple.com", None),
        ("example.com/path", None),
        ("user@example.com", None),
        ("", None),
    ],
)
def test_host(value: str, expected: str | None) -> None:
    assert host(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("443", "443"), ("08443", "8443"), ("0", None), ("65536", None), ("x", None), ("٣", None)],
)
def test_parse_port(value: str, expected: str | None) -> None:
    assert parse_port(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/app", "/app"),
        ("/app/", "/app"),
        ("//a//b/", "/a/b"),
        ("/", ""),
        ("/caf%C3%A9", "/caf\xc3\xa9"),  # decoded to latin-1 of the bytes, as PATH_INFO
        ("/a%2Fb", "/a/b"),
        ("app", None),
        ("/a?b", None),
        ("/a#b", None),
        ("/a b", None),
        ("/a/../b", None),
        ("/a/%2e%2E/b", None),
        ("/./a", None),
        ("", None),
    ],
)
def test_prefix(value: str, expected: str | None) -> None:
    assert prefix(value) == expected


@pytest.mark.parametrize(
    ("value", "parts"),
    [
        ("example.com", ("example.com", None)),
        ("example.com:8000", ("example.com", "8000")),
        ("example.com:", ("example.com", None)),
        ("[::1]:8000", ("[::1]", "8000")),
        ("[::1]", ("[::1]", None)),
        ("a:b", ("a:b", None)),
    ],
)
def test_split_host(value: str, parts: tuple[str, str | None]) -> None:
    assert split_host(value) == parts


def test_list_items() -> None:
    assert list_items(" a ,b,, ,\tc ") == ["a", "b", "c"]
    assert list_items("") == []
