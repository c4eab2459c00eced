"""Hypothesis properties of the request parser: split invariance, and no exceptions ever."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from eventlog import Outcome, feed_pieces, summarise
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pronghorn.http.parser import ParserLimits, RequestParser
from wiregen import RESERVED, TCHAR

names = st.text(TCHAR, min_size=1, max_size=12).filter(lambda n: n.lower() not in RESERVED)
# field-vchar with inner spaces and tabs, never at either end.
values = st.builds(
    lambda core, inner: core[:1] + inner + core[1:] if len(core) > 1 else core,
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=16),
    st.text(" \t", max_size=2),
)
paths = st.text("abcxyz0123456789-._~%!$&'()*+,;=:@/", max_size=20).map(lambda p: "/" + p)
queries = st.one_of(st.none(), st.text("abc=&+%0123", max_size=10))


@dataclass
class Req:
    method: str
    path: str
    query: str | None
    fields: list[tuple[str, str]]
    body: bytes
    framing: str  # "none" | "length" | "chunked"
    chunk_sizes: list[int]
    trailers: list[tuple[str, str]]

    def target(self) -> str:
        return self.path if self.query is None else f"{self.path}?{self.query}"

    def wire(self) -> bytes:
        head = [f"{self.method} {self.target()} HTTP/1.1", "Host: example.com"]
        head += [f"{n}: {v}" for n, v in self.fields]
        if self.framing == "length":
            head.append(f"Content-Length: {len(self.body)}")
        elif self.framing == "chunked":
            head.append("Transfer-Encoding: chunked")
        out = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if self.framing == "length":
            out += self.body
        elif self.framing == "chunked":
            out += self._chunks()
        return out

    def _chunks(self) -> bytes:
        out, offset = b"", 0
        for size in self.chunk_sizes:
            part = self.body[offset : offset + size]
            offset += len(part)
            if part:
                out += b"%x;ext=1\r\n%b\r\n" % (len(part), part)
        if offset < len(self.body):
            out += b"%X\r\n%b\r\n" % (len(self.body) - offset, self.body[offset:])
        trailer = "".join(f"{n}: {v}\r\n" for n, v in self.trailers).encode("latin-1")
        return out + b"0\r\n" + trailer + b"\r\n"


requests = st.builds(
    Req,
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    path=paths,
    query=queries,
    fields=st.lists(st.tuples(names, values), max_size=6),
    body=st.binary(max_size=64),
    framing=st.sampled_from(["none", "length", "chunked"]),
    chunk_sizes=st.lists(st.integers(1, 20), max_size=5),
    trailers=st.lists(st.tuples(names, values), max_size=2),
)


@st.composite
def cuts(draw: st.DrawFn, total: int) -> list[int]:
    points = draw(st.lists(st.integers(0, total), max_size=12, unique=True))
    bounds = [0, *sorted(points), total]
    return [b - a for a, b in itertools.pairwise(bounds)]


def _check(outcome: Outcome, reqs: list[Req]) -> None:
    assert outcome.error is None
    assert len(outcome.requests) == len(reqs)
    for got, want in zip(outcome.requests, reqs, strict=True):
        head = got.head
        assert head.method == want.method
        assert head.target == want.target().encode()
        assert head.path == want.path.encode()
        assert head.query == (want.query or "").encode()
        fields = [(b"Host", b"example.com")]
        fields += [(n.encode(), v.encode()) for n, v in want.fields if "_" not in n]
        if want.framing == "length":
            fields.append((b"Content-Length", b"%d" % len(want.body)))
        elif want.framing == "chunked":
            fields.append((b"Transfer-Encoding", b"chunked"))
        assert head.headers == fields
        assert head.keep_alive
        body = want.body if want.framing != "none" else b""
        assert bytes(got.body) == body
        trailers = [(n.encode(), v.encode()) for n, v in want.trailers if "_" not in n]
        assert got.trailers == (trailers if want.framing == "chunked" else [])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reqs=st.lists(requests, min_size=1, max_size=4), data=st.data())
def test_split_invariance(reqs: list[Req], data: st.DataObject) -> None:
    wire = b"".join(r.wire() for r in reqs)
    whole = feed_pieces(wire, [len(wire)])
    _check(whole, reqs)
    split = feed_pieces(wire, data.draw(cuts(len(wire))))
    _check(split, reqs)
    bytewise = feed_pieces(wire, [1] * len(wire))
    _check(bytewise, reqs)


_NASTY = st.sampled_from(
    [
        b"GET / HTTP/1.1\r\n",
        b"Host: a\r\n",
        b"\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Content-Length: 5\r\n",
        b"Connection: upgrade\r\nUpgrade: x\r\n",
        b"0\r\n",
        b"5\r\nhello",
        b"\x00",
        b"\r",
        b"\n",
        b" ",
        b"\t",
        b"\xff",
        b"POST /",
        b"HTTP/1.0",
        b"CONNECT a:1 HTTP/1.1\r\n",
        b"OPTIONS * HTTP/1.1\r\n",
        b"X_Y: 1\r\n",
        b"Expect: 100-continue\r\n",
        b"http://a/",
    ]
)
streams = st.one_of(
    st.binary(max_size=300),
    st.lists(st.one_of(_NASTY, st.binary(max_size=8)), max_size=40).map(b"".join),
)
limits = st.builds(
    ParserLimits,
    max_request_line=st.integers(1, 64),
    max_fields=st.integers(1, 8),
    max_field_size=st.integers(1, 64),
    max_body=st.integers(0, 32),
)


@settings(max_examples=1000, deadline=None)
@given(stream=streams, data=st.data(), limits=st.one_of(st.none(), limits))
def test_never_raises(stream: bytes, data: st.DataObject, limits: ParserLimits | None) -> None:
    parser = RequestParser(limits)
    events = []
    offset = 0
    for size in data.draw(cuts(len(stream))):
        events += parser.feed(stream[offset : offset + size])
        offset += size
    summarise(events)  # only events, in the documented order
