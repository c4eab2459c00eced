"""Validators and conditional requests (RFC 9110 section 8.8 and 13), as pure functions.

Owns the strong ETag and Last-Modified of a file and the evaluation order of section
13.2.2: If-Match, then If-Unmodified-Since (412), then If-None-Match (304 for GET/HEAD,
weak comparison, `*`), then If-Modified-Since (304, only without If-None-Match). If-Range
is decided here too; the Range header itself is `pronghorn.static.ranges`.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import mktime_tz, parsedate_tz


@dataclass(frozen=True, slots=True)
class Validators:
    """The validators of one selected representation (one file, one content coding)."""

    etag: str
    """Strong entity tag, quotes included."""
    mtime: int
    """Last modification, whole seconds since the epoch (HTTP dates have no fractions)."""


def make_etag(inode: int, size: int, mtime_ns: int, coding: str = "") -> str:
    """A strong ETag from the file's identity: `"inode-size-mtime_ns[-coding]"` in hex.

    A replaced file (new inode, as after an atomic rename), a rewritten one (new mtime_ns)
    or a resized one gets a new tag without reading its bytes. The coding suffix keeps the
    tags of `file`, `file.gz` and `file.br` apart even if their stat data were alike.
    """
    tag = f"{inode:x}-{size:x}-{mtime_ns:x}"
    return f'"{tag}-{coding}"' if coding else f'"{tag}"'


def parse_http_date(value: str) -> int | None:
    """Seconds since the epoch for an HTTP-date (any of the three formats), else None."""
    try:
        parts = parsedate_tz(value.strip())
        if parts is None:
            return None
        return int(mktime_tz(parts))
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def _tags(value: str) -> list[str]:
    """The entity tags of an If-Match / If-None-Match list (weak ones keep their W/)."""
    tags = []
    for item in value.split(","):
        item = item.strip()
        if item:
            tags.append(item)
    return tags


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def strong_match(value: str, etag: str) -> bool:
    """If-Match: `*` or a strong, equal tag (weak tags never match strongly)."""
    tags = _tags(value)
    return "*" in tags or etag in tags


def weak_match(value: str, etag: str) -> bool:
    """If-None-Match: `*` or a tag equal to ours once any W/ prefix is set aside."""
    tags = _tags(value)
    if "*" in tags:
        return True
    ours = _opaque(etag)
    return any(_opaque(tag) == ours for tag in tags)


def evaluate(
    method: str,
    validators: Validators,
    *,
    if_match: str | None,
    if_unmodified_since: str | None,
    if_none_match: str | None,
    if_modified_since: str | None,
) -> int | None:
    """The status the preconditions decide (412 or 304), or None to carry on."""
    if if_match is not None:
        if not strong_match(if_match, validators.etag):
            return 412
    elif if_unmodified_since is not None:
        since = parse_http_date(if_unmodified_since)
        if since is not None and validators.mtime > since:
            return 412
    read_only = method in ("GET", "HEAD")
    if if_none_match is not None:
        if weak_match(if_none_match, validators.etag):
            return 304 if read_only else 412
    elif if_modified_since is not None and read_only:
        since = parse_http_date(if_modified_since)
        if since is not None and validators.mtime <= since:
            return 304
    return None


def if_range_allows(value: str | None, validators: Validators) -> bool:
    """If-Range: True when the Range header may be honoured (absent, or the validator holds).

    An entity tag must match strongly (a weak one never does); a date must equal our
    Last-Modified exactly.
    """
    if value is None:
        return True
    value = value.strip()
    if value.startswith('"') or value.startswith("W/"):
        return value == validators.etag
    date = parse_http_date(value)
    return date is not None and date == validators.mtime
