"""Validators and RFC 9110 section 13.2.2 precondition order: table-driven."""

from __future__ import annotations

import pytest

from pronghorn.http.response import http_date
from pronghorn.static.conditions import (
    Validators,
    evaluate,
    if_range_allows,
    make_etag,
    parse_http_date,
    strong_match,
    weak_match,
)

MTIME = 1_700_000_000
ETAG = '"abc-1"'
V = Validators(ETAG, MTIME)
NOW = http_date(MTIME)
BEFORE = http_date(MTIME - 10)
AFTER = http_date(MTIME + 10)

CASES = [
    # method, if-match, if-unmodified-since, if-none-match, if-modified-since, expected
    ("GET", None, None, None, None, None),
    ("GET", ETAG, None, None, None, None),
    ("GET", "*", None, None, None, None),
    ("GET", '"other"', None, None, None, 412),
    ("GET", f"W/{ETAG}", None, None, None, 412),  # weak never matches strongly
    ("GET", f'"x", {ETAG}', None, None, None, None),
    ("GET", None, BEFORE, None, None, 412),
    ("GET", None, NOW, None, None, None),
    ("GET", None, AFTER, None, None, None),
    ("GET", None, "garbage", None, None, None),  # invalid date: ignored
    ("GET", ETAG, BEFORE, None, None, None),  # If-Match wins over If-Unmodified-Since
    ("GET", None, None, ETAG, None, 304),
    ("HEAD", None, None, ETAG, None, 304),
    ("GET", None, None, f"W/{ETAG}", None, 304),  # weak comparison
    ("GET", None, None, "*", None, 304),
    ("GET", None, None, '"a", "b"', None, None),
    ("GET", None, None, f'"a", {ETAG}', None, 304),
    ("POST", None, None, ETAG, None, 412),
    ("GET", None, None, None, NOW, 304),
    ("GET", None, None, None, AFTER, 304),
    ("GET", None, None, None, BEFORE, None),
    ("GET", None, None, None, "not a date", None),
    ("POST", None, None, None, NOW, None),
    ("GET", None, None, '"other"', NOW, None),  # If-None-Match present: IMS ignored
    ("GET", '"other"', None, ETAG, None, 412),  # If-Match is evaluated first
    ("GET", None, BEFORE, ETAG, None, 412),
]


@pytest.mark.parametrize(("method", "im", "ius", "inm", "ims", "expected"), CASES)
def test_evaluate(
    method: str, im: str | None, ius: str | None, inm: str | None, ims: str | None, expected: object
) -> None:
    got = evaluate(
        method,
        V,
        if_match=im,
        if_unmodified_since=ius,
        if_none_match=inm,
        if_modified_since=ims,
    )
    assert got == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, True),
        (ETAG, True),
        (f"W/{ETAG}", False),
        ('"other"', False),
        (NOW, True),
        (BEFORE, False),
        (AFTER, False),
        ("garbage", False),
    ],
)
def test_if_range(value: str | None, expected: bool) -> None:
    assert if_range_allows(value, V) is expected


@pytest.mark.parametrize(
    "text",
    ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"],
)
def test_three_date_formats(text: str) -> None:
    assert parse_http_date(text) == 784111777


def test_etag_is_strong_and_differs_per_coding_and_change() -> None:
    base = make_etag(10, 20, 30)
    assert base.startswith('"') and base.endswith('"') and not base.startswith("W/")
    assert len({base, make_etag(10, 20, 30, "br"), make_etag(10, 20, 30, "gzip")}) == 3
    assert len({base, make_etag(11, 20, 30), make_etag(10, 21, 30), make_etag(10, 20, 31)}) == 4


def test_match_helpers() -> None:
    assert strong_match(" * ", ETAG)
    assert not strong_match("", ETAG)
    assert weak_match(f'W/"zzz", W/{ETAG}', ETAG)
    assert not weak_match('"abc-2"', ETAG)
