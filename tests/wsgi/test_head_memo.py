"""`HeadMemo`: a repeated response head is checked and serialised once, and a memo hit
is always byte-for-byte what the cold path makes."""

from __future__ import annotations

from typing import Any

import pytest

from pronghorn.http.events import RequestHead
from pronghorn.http.parser import RequestParser
from pronghorn.http.response import plan_response
from pronghorn.wsgi import head_memo
from pronghorn.wsgi.head_memo import HeadMemo
from pronghorn.wsgi.headers import AppResponseError

DATE = "Mon, 30 Nov 2026 00:00:00 GMT"
LATER = "Mon, 30 Nov 2026 00:00:01 GMT"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", "13")]


def head_of(method: str = "GET", version: str = "1.1", connection: str = "") -> RequestHead:
    extra = f"Connection: {connection}\r\n" if connection else ""
    raw = f"{method} / HTTP/{version}\r\nHost: h\r\n{extra}\r\n".encode()
    head = RequestParser().feed(raw)[0]
    assert isinstance(head, RequestHead)
    return head


def cold(status: str, headers: list[tuple[str, str]], head: RequestHead, date: str) -> Any:
    return plan_response(
        method=head.method,
        request_version=head.version,
        request_keep_alive=head.keep_alive,
        status=status,
        headers=list(headers),
        date=date,
        body_length=None,
    )


CASES = [
    ("GET", "1.1", ""),
    ("HEAD", "1.1", ""),
    ("GET", "1.1", "close"),
    ("GET", "1.0", ""),
    ("GET", "1.0", "keep-alive"),
    ("HEAD", "1.0", "keep-alive"),
]


@pytest.mark.parametrize(("method", "version", "connection"), CASES)
def test_a_hit_is_exactly_the_cold_plan(method: str, version: str, connection: str) -> None:
    memo = HeadMemo()
    # Warm the memo with every other kind of request first: none may leak into this one.
    for other in CASES:
        memo.plan(memo.check("200 OK", list(HEADERS)), head_of(*other), DATE, None)
    head = head_of(method, version, connection)
    for _ in range(2):
        got = memo.plan(memo.check("200 OK", list(HEADERS)), head, DATE, None)
        assert got == cold("200 OK", HEADERS, head, DATE)


def test_a_new_date_gives_a_new_head() -> None:
    memo = HeadMemo()
    key = memo.check("200 OK", list(HEADERS))
    first = memo.plan(key, head_of(), DATE, None)
    second = memo.plan(key, head_of(), LATER, None)
    assert DATE.encode() in first.head and LATER.encode() in second.head


def test_body_length_is_part_of_the_key() -> None:
    memo = HeadMemo()
    key = memo.check("200 OK", [("Content-Type", "text/plain")])
    assert b"Content-Length: 5\r\n" in memo.plan(key, head_of(), DATE, 5).head
    assert b"Content-Length: 7\r\n" in memo.plan(key, head_of(), DATE, 7).head
    assert b"Transfer-Encoding: chunked" in memo.plan(key, head_of(), DATE, None).head


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        ("200 OK", [("Content-Type", "text/plain\r\nX-Evil: 1")]),
        ("200 OK", [("Content-Type", "text/plain"), ("Bad Name", "x")]),
        ("200 OK", [("Content-Type", "text/plain"), ("Transfer-Encoding", "chunked")]),
        ("200 OK", [["Content-Type", "text/plain"]]),  # a list, not a tuple: unhashable
        ("200 OK", [("Content-Type", ["text/plain"])]),
        ("200 OK", ((("Content-Type", "text/plain")),)),
        ("2000 OK", list(HEADERS)),
        (b"200 OK", list(HEADERS)),
    ],
)
def test_bad_input_is_refused_even_after_good_input_was_remembered(
    status: Any, headers: Any
) -> None:
    memo = HeadMemo()
    memo.check("200 OK", list(HEADERS))
    memo.check("200 OK", [("Content-Type", "text/plain")])
    with pytest.raises(AppResponseError):
        memo.check(status, headers)
    with pytest.raises(AppResponseError):
        memo.check(status, headers)  # and not remembered as good either


def test_tables_stay_bounded() -> None:
    memo = HeadMemo()
    head = head_of()
    for n in range(head_memo.MAX_ENTRIES * 3):
        key = memo.check("200 OK", [("Set-Cookie", f"session={n}")])
        assert f"session={n}".encode() in memo.plan(key, head, DATE, 0).head
        checked, plans = memo.sizes()
        assert 1 <= checked <= head_memo.MAX_ENTRIES
        assert 1 <= plans <= head_memo.MAX_ENTRIES


def test_headers_larger_than_the_memo_are_served_but_not_kept() -> None:
    memo = HeadMemo()
    huge = [("X-Big", "a" * (head_memo.MAX_TEXT + 1))]
    key = memo.check("200 OK", huge)
    assert memo.plan(key, head_of(), DATE, 0).head.count(b"a" * 1000) > 0
    assert memo.sizes() == (0, 0)


def test_plans_of_one_head_stay_bounded_as_the_date_moves_on() -> None:
    memo = HeadMemo()
    checked = memo.check("200 OK", list(HEADERS))
    for second in range(head_memo.MAX_PLANS * 3):
        date = f"Mon, 30 Nov 2026 00:00:{second:02d} GMT"
        assert date.encode() in memo.plan(checked, head_of(), date, None).head
        assert 1 <= memo.sizes()[1] <= head_memo.MAX_PLANS
