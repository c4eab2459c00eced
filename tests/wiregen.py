"""Request streams for the fuzzers: valid pipelines with a model of their parse, mutations of
them, and raw bytes.

`WireRequest` is one well-formed request (any method, origin/absolute/asterisk target,
HTTP/1.0 or 1.1, random fields with random OWS, a body framed by Content-Length or chunked
with random sizes, extensions and trailers) that knows its own bytes (`wire`) and what the
parser must report for it (`expected`). `Stream` is what a fuzzer feeds or sends: its bytes,
and the model's requests when the bytes are an unmutated pipeline (None otherwise).

Bodies are drawn as a size, a kind and a seed (not byte by byte), so that large bodies cost
nothing to generate. `streams(max_body=...)` bounds them; the quick suites keep them small.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Names that frame or route a request: the model sets them itself, never at random.
RESERVED = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "expect",
        "upgrade",
        "trailer",
        "te",
        "keep-alive",
        "proxy-connection",
    }
)
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
# Single bytes that break framing when they land in the wrong place.
NASTY_BYTES = b'\r\n\x00\x01\x08\x0b\x0c\x1f\x7f\x80\xff \t:;,"=\\/'
NASTY_TOKENS = (
    b"GET / HTTP/1.1\r\n",
    b"Host: a\r\n",
    b"\r\n",
    b"\r\n\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: 0\r\n",
    b"Content-Length: -1\r\n",
    b"Content-Length: 99999999999999999999\r\n",
    b"Connection: close\r\n",
    b"Connection: upgrade\r\nUpgrade: websocket\r\n",
    b"Expect: 100-continue\r\n",
    b"0\r\n\r\n",
    b"5\r\nhello\r\n",
    b"ffffffffffffffff\r\n",
    b';ext="q"',
    b"HTTP/1.0",
    b"HTTP/2.0",
    b"CONNECT a:1 HTTP/1.1\r\n",
    b"OPTIONS * HTTP/1.1\r\n",
    b"http://a/",
    b"X_Y: 1\r\n",
    b" folded\r\n",
    b"%00",
    b"/../../etc/passwd",
)

_VCHAR = "".join(map(chr, range(0x21, 0x7F)))
_OBS_TEXT = "".join(map(chr, range(0x80, 0x100)))
_PATH_CHARS = "abcxyz0123456789-._~%!$&'()*+,;=:@/"
_QUERY_CHARS = "abc=&+%0123?/"
_EXT_CHARS = "abcxyz0123456789-!#"
_QUOTED_CHARS = "abc xyz;=\t!#"


def _text(rng: random.Random, alphabet: str, low: int, high: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def field_name(rng: random.Random) -> str:
    while True:
        name = _text(rng, TCHAR, 1, 12)
        if name.lower() not in RESERVED:
            return name


def field_value(rng: random.Random) -> str:
    """Visible ASCII, sometimes obs-text, with inner spaces and tabs but none at the ends."""
    alphabet = _VCHAR + (_OBS_TEXT if rng.random() < 0.2 else "")
    core = _text(rng, alphabet, 0, 16)
    if len(core) < 2:
        return core
    return core[:1] + _text(rng, " \t", 0, 2) + core[1:]


def chunk_extension(rng: random.Random) -> str:
    out = ""
    for _ in range(rng.choice([0, 0, 1, 2, 3])):
        out += ";" + _text(rng, _EXT_CHARS, 1, 6)
        kind = rng.choice(["flag", "token", "quoted"])
        if kind == "token":
            out += "=" + _text(rng, _EXT_CHARS, 1, 6)
        elif kind == "quoted":
            out += '="' + _text(rng, _QUOTED_CHARS, 0, 6) + '"'
    return out


def make_body(size: int, kind: str, seed: int) -> bytes:
    """`size` bytes: random binary, binary without any LF, all LFs, or text lines."""
    rng = random.Random(seed)
    if kind == "binary":
        return rng.randbytes(size)
    if kind == "no-newline":
        return rng.randbytes(size).replace(b"\n", b"N")
    if kind == "newlines":
        return b"\n" * size
    line = b"line of text\r\n"
    return (line * (size // len(line) + 1))[:size]


@dataclass(frozen=True)
class Chunk:
    size: int
    extension: str
    upper: bool  # hex digits in upper case
    zeros: int  # leading zeros


@dataclass(frozen=True)
class WireRequest:
    method: str
    target: str
    version: str
    host: str | None  # None: no Host field (HTTP/1.0 only)
    fields: tuple[tuple[str, str, str], ...]  # name, value, OWS around the value
    framing_at: int  # index in `fields` where the framing fields go
    body: bytes
    framing: str  # "none" | "length" | "chunked"
    chunks: tuple[Chunk, ...]
    last_extension: str
    trailers: tuple[tuple[str, str], ...]
    close: bool  # 1.1: Connection: close; 1.0: no Connection: keep-alive
    expect_continue: bool

    @property
    def keep_alive(self) -> bool:
        return not self.close

    def _field_lines(self) -> list[str]:
        lines = [f"{n}:{o}{v}{o}" for n, v, o in self.fields]
        framing: list[str] = []
        if self.version == "1.1" and self.close:
            framing.append("Connection: close")
        if self.version == "1.0" and not self.close:
            framing.append("Connection: keep-alive")
        if self.expect_continue:
            framing.append("Expect: 100-continue")
        if self.framing == "length":
            framing.append(f"Content-Length: {len(self.body)}")
        elif self.framing == "chunked":
            framing.append("Transfer-Encoding: chunked")
        at = min(self.framing_at, len(lines))
        lines[at:at] = framing
        if self.host is not None:
            lines.insert(0, f"Host: {self.host}")
        return lines

    def wire(self) -> bytes:
        head = [f"{self.method} {self.target} HTTP/{self.version}", *self._field_lines()]
        out = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if self.framing == "length":
            return out + self.body
        if self.framing == "chunked":
            return out + self._chunked()
        return out

    def _chunked(self) -> bytes:
        parts, offset = [], 0
        for chunk in self.chunks:
            data = self.body[offset : offset + chunk.size]
            if not data:
                break
            offset += len(data)
            size = "0" * chunk.zeros + (f"{len(data):X}" if chunk.upper else f"{len(data):x}")
            parts.append(f"{size}{chunk.extension}\r\n".encode("latin-1") + data + b"\r\n")
        if offset < len(self.body):
            rest = self.body[offset:]
            parts.append(b"%x\r\n%b\r\n" % (len(rest), rest))
        trailer = "".join(f"{n}: {v}\r\n" for n, v in self.trailers).encode("latin-1")
        last = f"0{self.last_extension}\r\n".encode("latin-1")
        return b"".join(parts) + last + trailer + b"\r\n"

    def expected(self) -> dict[str, Any]:
        """What the parser must report: the fields `eventlog.Request` holds."""
        headers = [(n, v) for n, v in (line.split(":", 1) for line in self._field_lines())]
        kept = [
            (n.encode("latin-1"), v.strip(" \t").encode("latin-1"))
            for n, v in headers
            if "_" not in n
        ]
        trailers = [
            (n.encode("latin-1"), v.encode("latin-1")) for n, v in self.trailers if "_" not in n
        ]
        return {
            "method": self.method,
            "target": self.target.encode("latin-1"),
            "version": self.version,
            "headers": kept,
            "body": self.body if self.framing != "none" else b"",
            "keep_alive": self.keep_alive,
            "trailers": trailers if self.framing == "chunked" else [],
        }


@st.composite
def bodies(draw: st.DrawFn, max_body: int) -> bytes:
    # Sizes from three ranges, so that tiny, medium and near-the-bound bodies all come up.
    top = draw(st.sampled_from([min(max_body, 64), min(max_body, 2048), max_body]))
    size = draw(st.integers(top // 2, top))
    kind = draw(st.sampled_from(["binary", "no-newline", "newlines", "text"]))
    return make_body(size, kind, draw(st.integers(0, 2**32)))


def target(rng: random.Random, method: str, host: str) -> str:
    form = rng.choice(["origin", "origin", "origin", "absolute", "asterisk"])
    origin = "/" + _text(rng, _PATH_CHARS, 0, 24)
    if rng.random() < 0.5:
        origin += "?" + _text(rng, _QUERY_CHARS, 0, 12)
    if form == "absolute":
        return f"http://{host}{origin}"
    if form == "asterisk" and method == "OPTIONS":
        return "*"
    return origin


@st.composite
def wire_requests(draw: st.DrawFn, max_body: int = 512) -> WireRequest:
    """One well-formed request. The shape is drawn; names, values, paths and chunk sizes
    come from a drawn seed, which keeps generation cheap enough for hundreds of examples
    a second."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    method = draw(st.sampled_from(METHODS))
    version = draw(st.sampled_from(["1.1", "1.1", "1.1", "1.0"]))
    host = rng.choice(["example.com", "a", "127.0.0.1:8000", "[::1]:80"])
    framing = draw(st.sampled_from(["none", "length", "chunked"]))
    if version == "1.0" and framing == "chunked":
        framing = "length"  # Transfer-Encoding is refused in HTTP/1.0 (RFC 9112 6.1)
    ows = ["", " ", "  ", "\t", " \t"]
    return WireRequest(
        method=method,
        target=target(rng, method, host),
        version=version,
        host=host if version == "1.1" or rng.random() < 0.5 else None,
        fields=tuple(
            (field_name(rng), field_value(rng), rng.choice(ows)) for _ in range(rng.randint(0, 6))
        ),
        framing_at=rng.randint(0, 6),
        body=draw(bodies(max_body)) if framing != "none" else b"",
        framing=framing,
        chunks=tuple(
            Chunk(rng.randint(1, 300), chunk_extension(rng), rng.random() < 0.5, rng.randint(0, 3))
            for _ in range(rng.randint(0, 5))
        ),
        last_extension=chunk_extension(rng),
        trailers=tuple((field_name(rng), field_value(rng)) for _ in range(rng.randint(0, 2))),
        close=draw(st.sampled_from([False, False, False, True])),
        expect_continue=version == "1.1" and framing != "none" and draw(st.booleans()),
    )


@dataclass(frozen=True)
class Stream:
    """Bytes to feed or send. `model` holds the requests when the bytes are an unmutated
    pipeline of them (so their parse is known), else None."""

    data: bytes
    model: tuple[WireRequest, ...] | None
    origin: str  # "valid", "mutated", "raw" or "tokens"

    def expected_requests(self) -> list[dict[str, Any]]:
        """The model's requests up to the first that closes the connection."""
        assert self.model is not None
        out = []
        for request in self.model:
            out.append(request.expected())
            if not request.keep_alive:
                break
        return out


@st.composite
def mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` with one to four random edits: inserted, replaced or deleted bytes, a nasty
    token spliced in, a range duplicated, or the tail cut off."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(out)))
        kind = draw(
            st.sampled_from(["insert", "replace", "delete", "token", "duplicate", "truncate"])
        )
        byte = draw(st.one_of(st.sampled_from(list(NASTY_BYTES)), st.integers(0, 255)))
        if kind == "insert":
            out[at:at] = bytes([byte])
        elif kind == "replace" and at < len(out):
            out[at] = byte
        elif kind == "delete":
            del out[at : at + draw(st.integers(1, 8))]
        elif kind == "token":
            out[at:at] = draw(st.sampled_from(NASTY_TOKENS))
        elif kind == "duplicate":
            out[at:at] = out[at : at + draw(st.integers(1, 32))]
        elif kind == "truncate":
            del out[at:]
    return bytes(out)


@st.composite
def streams(draw: st.DrawFn, max_body: int = 512, max_requests: int = 4) -> Stream:
    """A valid pipeline, a mutated one, raw bytes, or a soup of HTTP-looking tokens."""
    origin = draw(
        st.sampled_from(["valid", "valid", "mutated", "mutated", "mutated", "raw", "tokens"])
    )
    if origin in ("valid", "mutated"):
        model = tuple(draw(st.lists(wire_requests(max_body), min_size=1, max_size=max_requests)))
        data = b"".join(r.wire() for r in model)
        if origin == "valid":
            return Stream(data, model, origin)
        return Stream(draw(mutations(data)), None, origin)
    if origin == "raw":
        return Stream(draw(st.binary(max_size=512)), None, origin)
    parts = st.one_of(st.sampled_from(NASTY_TOKENS), st.binary(max_size=8))
    return Stream(b"".join(draw(st.lists(parts, max_size=40))), None, origin)


@st.composite
def cuts(draw: st.DrawFn, total: int, max_cuts: int = 12) -> list[int]:
    """Piece sizes that add up to `total`: all of one size (a socket read of 65536 bytes is
    the server's), at points hypothesis picks (it favours the edges), or at uniformly random
    points."""
    mode = draw(st.sampled_from(["fixed", "drawn", "uniform"]))
    if mode == "fixed":
        size = draw(st.sampled_from([1, 2, 3, 7, 64, 1024, 4096, 65536]))
        return [size] * (total // size) + ([total % size] if total % size else [])
    if mode == "drawn":
        points = draw(st.lists(st.integers(0, total), max_size=max_cuts))
    else:
        rng = random.Random(draw(st.integers(0, 2**32)))
        points = [rng.randint(0, total) for _ in range(rng.randint(1, max_cuts))]
    bounds = [0, *sorted(set(points)), total]
    return [b - a for a, b in itertools.pairwise(bounds)]
