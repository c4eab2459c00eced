"""The PROXY protocol header parser (`pronghorn.http.proxy_protocol`), without sockets.

Tables of valid and refused headers, each checked whole, followed by HTTP bytes (which
must not change the answer), and at every prefix (None until the header is complete, or
the same refusal once refused); the captured corpus in `proxy_corpus/`; and hypothesis
properties: any arrival split read the way the I/O layer reads it (peek, consume only
what is header) gives the answer of the whole, consumes exactly the header, and no input
raises anything but ProxyHeaderError.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpusformat import unescape
from pronghorn.http.proxy_protocol import (
    MAX_HEADER,
    V1_MAX,
    V2_MAX,
    ProxyHeader,
    ProxyHeaderError,
    parse,
)
from proxywire import (
    LOCAL,
    PP2_TYPE_ALPN,
    PP2_TYPE_AUTHORITY,
    PP2_TYPE_NOOP,
    PP2_TYPE_UNIQUE_ID,
    PROXY,
    SIGNATURE,
    TCP4,
    TCP6,
    UDP4,
    UDP6,
    UNIX_STREAM,
    UNSPEC,
    addresses,
    ssl_tlv,
    tlv,
    unix_addresses,
    v1,
    v2,
)

HTTP = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
CORPUS = Path(__file__).resolve().parent / "proxy_corpus"
V4_BLOCK = addresses("203.0.113.7", "10.0.0.1", 51234, 443)
V6_BLOCK = addresses("2001:db8::7", "2001:db8::1", 51234, 443)
V4 = (("203.0.113.7", 51234), ("10.0.0.1", 443))
V6 = (("2001:db8::7", 51234), ("2001:db8::1", 443))

VALID: list[tuple[str, bytes, ProxyHeader]] = [
    (
        "v1 tcp4",
        v1("TCP4", "203.0.113.7", "10.0.0.1", "51234", "443"),
        ProxyHeader(43, 1, *V4),
    ),
    (
        "v1 tcp6 written long, upper case",
        v1("TCP6", "2001:0DB8:0:0:0:0:0:7", "2001:db8::1", "51234", "443"),
        ProxyHeader(56, 1, *V6),
    ),
    ("v1 ports 0 and 65535", v1("TCP4", "1.2.3.4", "5.6.7.8", "0", "65535"),
     ProxyHeader(36, 1, ("1.2.3.4", 0), ("5.6.7.8", 65535))),
    ("v1 unknown, short form", b"PROXY UNKNOWN\r\n", ProxyHeader(15, 1)),
    (
        "v1 unknown, anything up to the CRLF, at the 107-byte limit",
        b"PROXY UNKNOWN " + b"f" * (V1_MAX - 16) + b"\r\n",
        ProxyHeader(V1_MAX, 1),
    ),
    (
        "v1 tcp6, the longest the spec allows",
        v1("TCP6", "ffff:" * 7 + "fffe", "ffff:" * 7 + "ffff", "65535", "65535"),
        ProxyHeader(104, 1, ("ffff:" * 7 + "fffe", 65535), ("ffff:" * 7 + "ffff", 65535)),
    ),
    ("v2 tcp4", v2(PROXY, TCP4, V4_BLOCK), ProxyHeader(28, 2, *V4)),
    ("v2 udp4 (the addresses are still the client's)", v2(PROXY, UDP4, V4_BLOCK),
     ProxyHeader(28, 2, *V4)),
    ("v2 tcp6", v2(PROXY, TCP6, V6_BLOCK), ProxyHeader(52, 2, *V6)),
    ("v2 udp6", v2(PROXY, UDP6, V6_BLOCK), ProxyHeader(52, 2, *V6)),
    (
        "v2 tcp6 carrying an IPv4-mapped address",
        v2(PROXY, TCP6, addresses("::ffff:198.51.100.2", "::1", 1, 2)),
        ProxyHeader(52, 2, ("::ffff:c633:6402", 1), ("::1", 2)),
    ),
    ("v2 local, no addresses (a health check)", v2(LOCAL, UNSPEC), ProxyHeader(16, 2)),
    (
        "v2 local: its address block and family are ignored",
        v2(LOCAL, 0xFF, b"\x01" * 30),
        ProxyHeader(46, 2),
    ),
    ("v2 proxy, AF_UNSPEC: use the real peer", v2(PROXY, UNSPEC, b"junk"), ProxyHeader(20, 2)),
    ("v2 proxy, INET with an unspecified protocol", v2(PROXY, 0x10, b""), ProxyHeader(16, 2)),
    (
        "v2 unix stream: a path is no client address",
        v2(PROXY, UNIX_STREAM, unix_addresses(b"/run/client.sock", b"/run/haproxy.sock")),
        ProxyHeader(232, 2),
    ),
    (
        "v2 tcp4 with TLVs that are skipped",
        v2(PROXY, TCP4, V4_BLOCK, tlv(PP2_TYPE_ALPN, b"h2") + tlv(PP2_TYPE_AUTHORITY, b"a.example")
           + tlv(PP2_TYPE_NOOP, b"") + tlv(PP2_TYPE_UNIQUE_ID, b"x" * 128) + tlv(0xE0, b"custom")),
        ProxyHeader(28 + 5 + 12 + 3 + 131 + 9, 2, *V4),
    ),
    (
        "v2 tcp4, SSL TLV with PP2_CLIENT_SSL: the client spoke TLS",
        v2(PROXY, TCP4, V4_BLOCK, ssl_tlv(0x01)),
        ProxyHeader(28 + 18, 2, *V4, tls=True),
    ),
    (
        "v2 tcp4, SSL TLV without PP2_CLIENT_SSL",
        v2(PROXY, TCP4, V4_BLOCK, ssl_tlv(0x02)),
        ProxyHeader(28 + 18, 2, *V4, tls=False),
    ),
    (
        "v2 unix stream, SSL TLV after the addresses",
        v2(PROXY, UNIX_STREAM, unix_addresses(b"/a", b"/b"), ssl_tlv(0x01)),
        ProxyHeader(232 + 18, 2, tls=True),
    ),
    (
        "v2 at the size limit",
        v2(PROXY, TCP4, V4_BLOCK, tlv(PP2_TYPE_NOOP, b"\0" * (V2_MAX - 28 - 3))),
        ProxyHeader(V2_MAX, 2, *V4),
    ),
]  # fmt: skip

INVALID: list[tuple[str, bytes, str]] = [
    ("plain HTTP", HTTP, "no PROXY signature"),
    ("TLS ClientHello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "no PROXY signature"),
    ("lower-case proxy", b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "no PROXY signature"),
    ("v2 signature broken at its 5th byte", b"\r\n\r\n\x01\r\nQUIT\n", "no PROXY signature"),
    ("v1 two spaces", b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "four fields"),
    ("v1 missing port", b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "four fields"),
    ("v1 extra field", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "four fields"),
    ("v1 trailing space", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "four fields"),
    ("v1 unknown protocol", b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "unknown protocol"),
    ("v1 nothing after PROXY", b"PROXY \r\n", "unknown protocol"),
    ("v1 ipv4 leading zero", v1("TCP4", "01.2.3.4", "5.6.7.8", "1", "2"), "bad IPv4"),
    ("v1 ipv4 out of range", v1("TCP4", "1.2.3.256", "5.6.7.8", "1", "2"), "bad IPv4"),
    ("v1 tcp4 with ipv6", v1("TCP4", "::1", "5.6.7.8", "1", "2"), "bad IPv4"),
    ("v1 tcp6 with ipv4", v1("TCP6", "1.2.3.4", "::1", "1", "2"), "bad IPv6"),
    ("v1 ipv6 zone", v1("TCP6", "fe80::1%eth0", "::1", "1", "2"), "bad IPv6"),
    ("v1 port leading zero", v1("TCP4", "1.2.3.4", "5.6.7.8", "080", "2"), "bad port"),
    ("v1 port too large", v1("TCP4", "1.2.3.4", "5.6.7.8", "65536", "2"), "bad port"),
    ("v1 port signed", v1("TCP4", "1.2.3.4", "5.6.7.8", "+80", "2"), "bad port"),
    ("v1 bare LF", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n" + HTTP, "not printable"),
    ("v1 bare CR", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX\r\n", "not printable"),
    ("v1 tab", b"PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n", "no PROXY signature"),
    ("v1 NUL", b"PROXY TCP4 1.2.3.4\x00 5.6.7.8 1 2\r\n", "not printable"),
    ("v1 8-bit byte", b"PROXY UNKNOWN \xff\r\n", "not printable"),
    ("v1 no CRLF in 107 bytes", b"PROXY UNKNOWN " + b"f" * 93 + b"\r\n", "longer than 107"),
    ("v2 version 1", SIGNATURE + b"\x11\x11\x00\x0c" + V4_BLOCK, "version 1"),
    ("v2 version 3", SIGNATURE + b"\x31\x11\x00\x0c" + V4_BLOCK, "version 3"),
    ("v2 command 2", SIGNATURE + b"\x22\x11\x00\x0c" + V4_BLOCK, "unknown command 2"),
    ("v2 family 4", v2(PROXY, 0x41, V4_BLOCK), "unknown family"),
    ("v2 protocol 3", v2(PROXY, 0x13, V4_BLOCK), "unknown family"),
    ("v2 larger than the limit", v2(PROXY, TCP4, length=V2_MAX - 15), "more than 4096"),
    ("v2 largest length field", v2(PROXY, TCP4, length=0xFFFF), "more than 4096"),
    ("v2 tcp4 block too short", v2(PROXY, TCP4, V4_BLOCK[:8]), "needs 12"),
    ("v2 tcp6 block too short", v2(PROXY, TCP6, V4_BLOCK), "needs 36"),
    ("v2 unix block too short", v2(PROXY, UNIX_STREAM, b"\0" * 108), "needs 216"),
    ("v2 truncated TLV", v2(PROXY, TCP4, V4_BLOCK, b"\x01\x00"), "truncated TLV"),
    ("v2 TLV past the end", v2(PROXY, TCP4, V4_BLOCK, b"\x01\x00\x05ab"), "longer than"),
    ("v2 SSL TLV too short", v2(PROXY, TCP4, V4_BLOCK, tlv(0x20, b"\x01")), "PP2_TYPE_SSL"),
]


def _answer(data: bytes) -> ProxyHeader | str | None:
    """What `parse` says: the header, None, or "refused" (the message may quote the bytes
    seen so far, so it is left out of the comparisons)."""
    try:
        return parse(data)
    except ProxyHeaderError:
        return "refused"


@pytest.mark.parametrize(("wire", "expected"), [c[1:] for c in VALID], ids=[c[0] for c in VALID])
def test_valid_headers(wire: bytes, expected: ProxyHeader) -> None:
    assert expected.length == len(wire)
    assert parse(wire) == expected
    assert parse(wire + HTTP) == expected  # what follows is not the header's business
    assert parse(wire + SIGNATURE + b"\x21") == expected
    for end in range(len(wire)):
        assert parse(wire[:end]) is None, f"answered after {end} of {len(wire)} bytes"


@pytest.mark.parametrize(("wire", "reason"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_refused_headers(wire: bytes, reason: str) -> None:
    with pytest.raises(ProxyHeaderError, match=reason):
        parse(wire)
    _check_monotonic(wire + HTTP)


def test_refused_as_soon_as_no_continuation_can_be_valid() -> None:
    # An early refusal lets the connection close before a timeout.
    for wire in (b"G", b"PROXZ", b"\r\n\r\n\x00\r\nQUIT\n\x11", b"PROXY TCP4 1.2.3.4\n"):
        with pytest.raises(ProxyHeaderError):
            parse(wire)


def _check_monotonic(data: bytes) -> None:
    """Once `parse` answers for a prefix (a header or a refusal), every longer prefix gets
    the same answer."""
    final = _answer(data)
    answered = None
    for end in range(len(data) + 1):
        answer = _answer(data[:end])
        if answered is not None:
            assert answer == answered, f"changed its answer at {end} bytes"
        elif answer is not None:
            answered = answer
            assert answer == final, f"answered {answer!r} at {end} bytes, {final!r} at the end"


# -- the corpus: real senders' bytes ----------------------------------------------------------

CORPUS_CASES = sorted(CORPUS.glob("*.txt"))


def _expected(spec: dict[str, Any]) -> ProxyHeader | None:
    if "error" in spec:
        return None
    source, destination = spec.get("source"), spec.get("destination")
    return ProxyHeader(
        spec["length"],
        spec["version"],
        None if source is None else (source[0], source[1]),
        None if destination is None else (destination[0], destination[1]),
        spec.get("tls", False),
    )


@pytest.mark.parametrize("case", CORPUS_CASES, ids=lambda path: path.stem)
def test_corpus(case: Path) -> None:
    spec = json.loads(case.with_suffix(".json").read_text())
    wire = unescape(case.read_text())
    expected = _expected(spec)
    if expected is None:
        with pytest.raises(ProxyHeaderError, match=spec["error"]):
            parse(wire)
    else:
        assert parse(wire) == expected
        assert _read_in_pieces(wire, [1] * len(wire)) == (expected, wire[expected.length :])
    _check_monotonic(wire)


def test_there_is_a_corpus() -> None:
    assert len(CORPUS_CASES) >= 4
    for case in CORPUS_CASES:
        assert case.with_suffix(".json").exists(), case


# -- properties -----------------------------------------------------------------------------


def _read_in_pieces(stream: bytes, sizes: list[int]) -> tuple[ProxyHeader | str, bytes]:
    """Read `stream`, arriving in pieces of `sizes`, the way `pronghorn.io.preamble` reads a
    socket: peek at what has arrived (at most MAX_HEADER more), consume all of it while the
    header is incomplete, exactly the rest of the header once it is complete. Returns the
    answer and what is left unread for the next layer."""
    arrived = 0
    taken = b""
    pieces = iter(sizes)
    while True:
        arrived = min(len(stream), arrived + next(pieces, len(stream)))
        peeked = stream[len(taken) : min(arrived, len(taken) + MAX_HEADER - len(taken))]
        answer = _answer(taken + peeked)
        if isinstance(answer, ProxyHeader):
            return answer, stream[answer.length :]
        if answer is not None:
            return answer, stream[len(taken) :]
        if arrived >= len(stream):
            return "incomplete", stream[len(taken) :]
        taken += peeked


ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
ports = st.integers(0, 65535)
tlvs = st.lists(
    st.tuples(st.integers(0, 255).filter(lambda kind: kind != 0x20), st.binary(max_size=40)),
    max_size=4,
).map(lambda items: b"".join(tlv(kind, value) for kind, value in items))


@st.composite
def headers(draw: st.DrawFn) -> bytes:
    """A valid header of any kind."""
    kind = draw(st.sampled_from(["v1-4", "v1-6", "v1-unknown", "v2-4", "v2-6", "v2-local",
                                 "v2-unix", "v2-ssl"]))  # fmt: skip
    if kind in ("v1-4", "v1-6"):
        family, addr = ("TCP4", ipv4) if kind == "v1-4" else ("TCP6", ipv6)
        return v1(family, draw(addr), draw(addr), str(draw(ports)), str(draw(ports)))
    if kind == "v1-unknown":
        rest = draw(st.text("0123456789abcdef.: ", max_size=V1_MAX - 15))
        return b"PROXY UNKNOWN" + (b" " + rest.encode() if rest else b"") + b"\r\n"
    if kind == "v2-local":
        return v2(LOCAL, draw(st.integers(0, 255)), draw(st.binary(max_size=64)))
    if kind == "v2-unix":
        return v2(PROXY, UNIX_STREAM, unix_addresses(b"/a", b"/b"), draw(tlvs))
    family, addr = (TCP4, ipv4) if kind in ("v2-4", "v2-ssl") else (TCP6, ipv6)
    block = addresses(draw(addr), draw(addr), draw(ports), draw(ports))
    extra = ssl_tlv(draw(st.integers(0, 7))) if kind == "v2-ssl" else b""
    return v2(PROXY, family, block, draw(tlvs) + extra)


@settings(max_examples=300, deadline=None)
@given(headers(), st.binary(max_size=64), st.lists(st.integers(1, 40), max_size=30))
def test_any_split_reads_exactly_the_header(header: bytes, after: bytes, sizes: list[int]) -> None:
    expected = parse(header)
    assert isinstance(expected, ProxyHeader) and expected.length == len(header)
    stream = header + after
    assert parse(stream) == expected
    assert _read_in_pieces(stream, sizes) == (expected, after)


@settings(max_examples=300, deadline=None)
@given(headers(), st.binary(max_size=16), st.lists(st.integers(1, 40), max_size=30), st.data())
def test_a_damaged_header_is_answered_the_same_whatever_the_split(
    header: bytes, after: bytes, sizes: list[int], data: st.DataObject
) -> None:
    position = data.draw(st.integers(0, len(header) - 1))
    damaged = bytearray(header)
    damaged[position] = data.draw(st.integers(0, 255))
    stream = bytes(damaged) + after
    whole = _answer(stream)
    answer, left = _read_in_pieces(stream, sizes)
    if answer != "incomplete":  # the damage may have made the header longer than the stream
        assert answer == whole
    if isinstance(answer, ProxyHeader):
        assert left == stream[answer.length :]
    _check_monotonic(stream)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.builds(lambda tail: SIGNATURE + tail,
                                                    st.binary(max_size=300))))  # fmt: skip
def test_never_an_exception_other_than_a_refusal(data: bytes) -> None:
    _answer(data)


def test_v2_length_field_counts_from_the_17th_byte() -> None:
    wire = v2(PROXY, TCP4, V4_BLOCK, tlv(PP2_TYPE_NOOP, b"ab"))
    assert struct.unpack("!H", wire[14:16]) == (17,)
    assert parse(wire + b"\x01") == ProxyHeader(33, 2, *V4)
