"""The properties every parse must have, as checks a fuzzer can run on any input.

Each check raises `AssertionError` with a message that says what broke. `test_fuzz` runs
them under hypothesis; the server fuzzer (`tests/server/fuzzserver.py`) runs them on every
stream it sends, so that a parser violation found there is reported like one found here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventlog import Outcome, summarise

from pronghorn.http.events import BodyData, Event, MessageEnd, ProtocolError, RequestHead
from pronghorn.http.parser import ParserLimits, RequestParser

# The statuses a refusal may carry (docs/design.md, "Errors"; 408 is the I/O layer's, but
# a parser that ever returned it would still be answering with a documented status).
ERROR_STATUSES = frozenset({400, 408, 413, 414, 431, 501, 505})
_PROBE = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"


@dataclass
class Parse:
    """A stream fed to one parser in given pieces: its events, their summary, its end state."""

    events: list[Event]
    outcome: Outcome
    parser: RequestParser

    @property
    def incomplete(self) -> bool:
        """The stream stopped inside a message (its head, body or trailers)."""
        last = self.outcome.requests[-1] if self.outcome.requests else None
        return self.parser.has_partial_head or (last is not None and last.trailers is None)


def parse(data: bytes, pieces: list[int], limits: ParserLimits | None = None) -> Parse:
    """Feed `data` cut into `pieces` (the rest in one piece); check each event as it comes."""
    parser = RequestParser(limits)
    events: list[Event] = []
    offset = 0
    for size in [*pieces, len(data)]:
        piece = data[offset : offset + size]
        offset += len(piece)
        if not piece and size:
            continue
        got = parser.feed(piece)
        assert isinstance(got, list), f"feed returned {type(got).__name__}"
        events += got
    outcome = check_grammar(events)
    if parser.failed or parser.closed:
        assert parser.feed(_PROBE) == [], "a dead parser produced events"
    return Parse(events, outcome, parser)


def check_grammar(events: list[Event]) -> Outcome:
    """Only event types, in the order (head, body*, end)*, an error last with a documented
    status; no empty body pieces."""
    for event in events:
        assert type(event) in (RequestHead, BodyData, MessageEnd, ProtocolError), event
        if type(event) is BodyData:
            assert event.data, "an empty BodyData"
        if type(event) is ProtocolError:
            assert event.status in ERROR_STATUSES, f"undocumented status {event.status}"
            assert event.detail, "a ProtocolError without a detail for the log"
    return summarise(events)  # asserts the order and that nothing follows an error


def comparable(outcome: Outcome) -> dict[str, Any]:
    """What must not depend on how the stream was cut: every head field, the merged body,
    trailers (None while a message is open), and the error status."""
    requests = []
    for request in outcome.requests:
        head = request.head
        requests.append(
            (
                head.method,
                head.target,
                head.path,
                head.query,
                head.version,
                list(head.headers),
                head.keep_alive,
                head.expect_continue,
                head.body_kind,
                head.content_length,
                bytes(request.body),
                request.trailers,
            )
        )
    return {
        "requests": requests,
        "error": outcome.error.status if outcome.error else None,
    }


def check_split_invariance(whole: Parse, split: Parse, pieces: list[int]) -> None:
    """Any cut of a stream reports what the whole stream reports.

    One documented difference (parser.py, `_guard_section`): a line or head that never ends
    is refused with 431 once it has grown past its limit plus one read, so a stream cut
    small may be refused where the whole stream is still inside the message or refused
    later for another reason. Requests completed before that refusal must still agree.
    """
    a, b = comparable(whole.outcome), comparable(split.outcome)
    if a == b:
        return
    guard = (
        b["error"] == 431
        and (whole.incomplete or a["error"] is not None)
        and b["requests"] == a["requests"][: len(b["requests"])]
    )
    if guard:
        return
    raise AssertionError(f"cut {pieces} differs from the whole stream:\n whole {a}\n split {b}")


def check_model(parsed: Parse, expected: list[dict[str, Any]]) -> None:
    """An unmutated pipeline parses into exactly the model's requests, without an error."""
    outcome = parsed.outcome
    assert outcome.error is None, f"a valid pipeline was refused: {outcome.error}"
    got = [
        {
            "method": r.head.method,
            "target": r.head.target,
            "version": r.head.version,
            "headers": list(r.head.headers),
            "body": bytes(r.body),
            "keep_alive": r.head.keep_alive,
            "trailers": r.trailers,
        }
        for r in outcome.requests
    ]
    assert got == expected, f"parsed\n {got}\nexpected\n {expected}"
