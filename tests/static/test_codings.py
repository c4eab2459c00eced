"""Accept-Encoding negotiation for precompressed siblings: table-driven."""

from __future__ import annotations

import pytest

from pronghorn.static.codings import accepted_qualities, preferred_codings

CASES = [
    (None, []),
    ("", []),
    ("identity", []),
    ("gzip", ["gzip"]),
    ("br", ["br"]),
    ("gzip, br", ["br", "gzip"]),
    ("gzip, deflate, br, zstd", ["br", "gzip"]),
    ("GZIP", ["gzip"]),
    ("x-gzip", ["gzip"]),
    ("br;q=0.5, gzip", ["gzip", "br"]),
    ("br;q=0, gzip", ["gzip"]),
    ("br;q=0.0, gzip;q=0", []),
    ("*", ["br", "gzip"]),
    ("*;q=0", []),
    ("*, br;q=0", ["gzip"]),
    ("gzip;q=0.5, identity", []),  # identity preferred over gzip
    ("gzip;q=0.5, identity;q=0", ["gzip"]),
    ("gzip;q=bogus", []),
    ("gzip;q=2", []),
    ("gzip ; q=0.8 , br ; q=0.9", ["br", "gzip"]),
    ("deflate", []),
]


@pytest.mark.parametrize(("header", "expected"), CASES)
def test_preferred(header: str | None, expected: list[str]) -> None:
    assert [s.coding for s in preferred_codings(header)] == expected


def test_suffixes() -> None:
    assert [s.suffix for s in preferred_codings("br, gzip")] == [".br", ".gz"]


def test_qualities() -> None:
    assert accepted_qualities("a;q=0.3, b") == {"a": 0.3, "b": 1.0}
