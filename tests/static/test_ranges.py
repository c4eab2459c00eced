"""Range header parsing: table-driven, no sockets."""

from __future__ import annotations

import pytest

from pronghorn.static.ranges import MAX_RANGES, UNSATISFIABLE, ByteRange, parse_range

R = ByteRange

CASES = [
    # header, size, expected
    ("bytes=0-9", 100, [R(0, 9)]),
    ("bytes=10-", 100, [R(10, 99)]),
    ("bytes=-10", 100, [R(90, 99)]),
    ("bytes=-1000", 100, [R(0, 99)]),
    ("bytes=50-1000", 100, [R(50, 99)]),
    ("bytes=99-99", 100, [R(99, 99)]),
    ("bytes=0-0", 1, [R(0, 0)]),
    ("BYTES = 0-1", 100, [R(0, 1)]),
    ("bytes= 0 - 1 ", 100, [R(0, 1)]),
    ("bytes=100-", 100, UNSATISFIABLE),
    ("bytes=100-200", 100, UNSATISFIABLE),
    ("bytes=-0", 100, UNSATISFIABLE),
    ("bytes=0-", 0, UNSATISFIABLE),
    ("bytes=-5", 0, UNSATISFIABLE),
    ("bytes=200-300, 0-4", 100, [R(0, 4)]),
    # Malformed: ignored (None -> plain 200).
    ("bytes=", 100, None),
    ("bytes=,", 100, None),
    ("bytes=-", 100, None),
    ("bytes=5-4", 100, None),
    ("bytes=a-b", 100, None),
    ("bytes=1-2-3", 100, None),
    ("bytes=0x1-2", 100, None),
    ("bytes=+1-2", 100, None),
    ("bytes=\uff11-2", 100, None),  # a fullwidth digit
    ("items=0-1", 100, None),
    ("0-1", 100, None),
    ("bytes=99999999999999999999-", 100, None),
    ("bytes=0-1,x", 100, None),
    # Several ranges: sorted, overlapping and nearby coalesced.
    ("bytes=0-9,500-509", 1000, [R(0, 9), R(500, 509)]),
    ("bytes=500-509,0-9", 1000, [R(0, 9), R(500, 509)]),
    ("bytes=0-9,5-20", 1000, [R(0, 20)]),
    ("bytes=0-9,10-19", 1000, [R(0, 19)]),
    ("bytes=0-9,50-59", 1000, [R(0, 59)]),
    ("bytes=0-0,0-0,0-0", 1000, [R(0, 0)]),
    ("bytes=-10,0-9", 1000, [R(0, 9), R(990, 999)]),
]


@pytest.mark.parametrize(("header", "size", "expected"), CASES)
def test_parse_range(header: str, size: int, expected: object) -> None:
    assert parse_range(header, size) == expected


def test_many_small_ranges_are_ignored() -> None:
    spread = ",".join(f"{i * 1000}-{i * 1000}" for i in range(MAX_RANGES + 1))
    assert parse_range("bytes=" + spread, 10**6) is None
    fits = ",".join(f"{i * 1000}-{i * 1000}" for i in range(MAX_RANGES))
    assert len(parse_range("bytes=" + fits, 10**6)) == MAX_RANGES  # type: ignore[arg-type]


def test_many_overlapping_ranges_collapse_to_one() -> None:
    assert parse_range("bytes=" + ",".join(["0-99"] * 200), 1000) == [R(0, 99)]


def test_length() -> None:
    assert R(5, 9).length == 5
