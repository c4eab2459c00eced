"""The Range request header (RFC 9110 section 14), as a pure function.

Owns the byte-range rules: `a-b`, `a-`, `-n`, clipping to the file, unsatisfiable sets
(416), malformed headers ignored (a plain 200), and for several ranges: overlapping and
nearby ranges coalesced, and more than `MAX_RANGES` after that ignored (200), so a
request cannot make us send the same bytes many times or in thousands of tiny parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MAX_RANGES: Final = 16
"""More ranges than this (after coalescing) and the Range header is ignored."""
COALESCE_GAP: Final = 80
"""Ranges closer than this many bytes are merged (a part header costs about as much)."""
_MAX_SPEC_CHARS: Final = 4096


@dataclass(frozen=True, slots=True)
class ByteRange:
    """First and last byte position, both inclusive, already clipped to the file."""

    first: int
    last: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1


class Unsatisfiable:
    """The Range header is valid but no range overlaps the file: answer 416."""


UNSATISFIABLE: Final = Unsatisfiable()


def parse_range(value: str, size: int) -> list[ByteRange] | Unsatisfiable | None:
    """The ranges to send (sorted, coalesced), UNSATISFIABLE, or None to send the whole file.

    None also covers every malformed header, units other than `bytes`, and too many ranges.
    """
    unit, eq, specs = value.partition("=")
    if not eq or unit.strip().lower() != "bytes" or len(specs) > _MAX_SPEC_CHARS:
        return None
    wanted: list[ByteRange] = []
    seen_any = False
    for spec in specs.split(","):
        spec = spec.strip()
        if not spec:
            continue
        seen_any = True
        parsed = _parse_spec(spec)
        if parsed is None:
            return None
        clipped = _clip(parsed, size)
        if clipped is not None:
            wanted.append(clipped)
    if not seen_any:
        return None
    if not wanted:
        return UNSATISFIABLE
    merged = coalesce(wanted)
    if len(merged) > MAX_RANGES:
        return None
    return merged


def _parse_spec(spec: str) -> tuple[int | None, int | None] | None:
    first_text, dash, last_text = spec.partition("-")
    first_text, last_text = first_text.strip(), last_text.strip()
    if not dash or not _digits(first_text, allow_empty=True):
        return None
    if not _digits(last_text, allow_empty=True):
        return None
    if not first_text:
        # Suffix range "-n": the last n bytes; "-" alone is malformed.
        return (None, int(last_text)) if last_text else None
    first = int(first_text)
    if not last_text:
        return first, None
    last = int(last_text)
    return (first, last) if last >= first else None


def _digits(text: str, allow_empty: bool) -> bool:
    if not text:
        return allow_empty
    return text.isascii() and text.isdigit() and len(text) <= 19


def _clip(spec: tuple[int | None, int | None], size: int) -> ByteRange | None:
    first, last = spec
    if first is None:
        assert last is not None
        if last == 0 or size == 0:
            return None
        return ByteRange(max(size - last, 0), size - 1)
    if first >= size:
        return None
    end = size - 1 if last is None else min(last, size - 1)
    return ByteRange(first, end)


def coalesce(ranges: list[ByteRange]) -> list[ByteRange]:
    """Sort and merge ranges that overlap or lie within COALESCE_GAP bytes of each other."""
    ordered = sorted(ranges, key=lambda r: (r.first, r.last))
    merged = [ordered[0]]
    for item in ordered[1:]:
        top = merged[-1]
        if item.first <= top.last + 1 + COALESCE_GAP:
            merged[-1] = ByteRange(top.first, max(top.last, item.last))
        else:
            merged.append(item)
    return merged
