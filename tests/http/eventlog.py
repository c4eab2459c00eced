"""Helpers for the HTTP core tests: feeding the parser and summarising its event stream.

The corpus escape format (`unescape`) lives in `tests/corpusformat.py`, shared with the
interop corpus.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from pronghorn.http.events import BodyData, Event, MessageEnd, ProtocolError, RequestHead
from pronghorn.http.parser import ParserLimits, RequestParser


@dataclass
class Request:
    head: RequestHead
    body: bytearray = field(default_factory=bytearray)
    trailers: list[tuple[bytes, bytes]] | None = None  # None until MessageEnd


@dataclass
class Outcome:
    requests: list[Request]
    error: ProtocolError | None


def summarise(events: Iterable[Event]) -> Outcome:
    """Group events into requests, checking that their order is the documented one."""
    requests: list[Request] = []
    error: ProtocolError | None = None
    for event in events:
        assert error is None, f"event after a ProtocolError: {event!r}"
        current = requests[-1] if requests else None
        if isinstance(event, RequestHead):
            assert current is None or current.trailers is not None, "head inside a message"
            requests.append(Request(event))
        elif isinstance(event, BodyData):
            assert current is not None and current.trailers is None, "body outside a message"
            assert isinstance(event.data, bytes)
            current.body += event.data
        elif isinstance(event, MessageEnd):
            assert current is not None and current.trailers is None, "end outside a message"
            current.trailers = list(event.trailers)
        else:
            assert isinstance(event, ProtocolError), event
            error = event
    return Outcome(requests, error)


def feed_pieces(data: bytes, pieces: Iterable[int], limits: ParserLimits | None = None) -> Outcome:
    """Feed `data` cut at the given piece sizes (the rest in one piece) and summarise."""
    parser = RequestParser(limits)
    events: list[Event] = []
    offset = 0
    for size in pieces:
        events += parser.feed(data[offset : offset + size])
        offset += size
    if offset < len(data):
        events += parser.feed(data[offset:])
    return summarise(events)


def splits(data: bytes, seed: int, count: int = 5) -> Iterator[tuple[str, list[int]]]:
    """Whole, byte by byte, and `count` seeded random splits of `data`."""
    yield "whole", [len(data)]
    yield "bytewise", [1] * len(data)
    rng = random.Random(seed)
    for n in range(count):
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 12))))
        bounds = [0, *cuts, len(data)]
        yield f"random{n}", [b - a for a, b in itertools.pairwise(bounds)]


def escape(data: bytes) -> str:
    """`data` in the corpus escape format (the inverse of `unescape`), one line per LF."""
    out = []
    for byte in data:
        char = chr(byte)
        if char == "\\":
            out.append("\\\\")
        elif char == "\r":
            out.append("\\r")
        elif char == "\n":
            out.append("\\n\n")
        elif char == "\t":
            out.append("\\t")
        elif byte == 0:
            out.append("\\0")
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)
