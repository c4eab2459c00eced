"""Choosing a precompressed sibling (`file.br`, `file.gz`) by Accept-Encoding, purely.

Owns the RFC 9110 section 12.5.3 rules we need: q-values (q=0 refuses), `*`, case-
insensitive codings, `x-gzip` as gzip. No Accept-Encoding means identity only: a client
that did not ask for a coding never receives one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

SIBLINGS: Final = (("br", ".br"), ("gzip", ".gz"))
"""Codings we look for on disk, in order of preference when q-values tie."""


@dataclass(frozen=True, slots=True)
class Sibling:
    coding: str
    suffix: str


def accepted_qualities(value: str | None) -> dict[str, float]:
    """Coding -> q from an Accept-Encoding value (malformed q-values count as refusals)."""
    qualities: dict[str, float] = {}
    if not value:
        return qualities
    for item in value.split(","):
        name, _, params = item.partition(";")
        name = name.strip().lower()
        if not name:
            continue
        if name == "x-gzip":
            name = "gzip"
        quality = 1.0
        for param in params.split(";"):
            key, eq, raw = param.partition("=")
            if eq and key.strip().lower() == "q":
                quality = _quality(raw.strip())
        qualities[name] = max(quality, qualities.get(name, quality))
    return qualities


def _quality(raw: str) -> float:
    try:
        quality = float(raw)
    except ValueError:
        return 0.0
    return quality if 0.0 <= quality <= 1.0 else 0.0


def preferred_codings(value: str | None) -> list[Sibling]:
    """Siblings the client accepts, best first, each better than (or tied with) identity.

    The caller tries them in order and falls back to identity when none exists on disk.
    """
    qualities = accepted_qualities(value)
    if not qualities:
        return []
    star = qualities.get("*", 0.0)
    # Identity, when the client does not rate it, is only the fallback: any accepted
    # coding beats it. Rated explicitly (or through "*"), it competes on its q-value.
    identity = qualities.get("identity", star)
    ranked = []
    for order, (coding, suffix) in enumerate(SIBLINGS):
        quality = qualities.get(coding, star)
        if quality > 0.0 and quality >= identity:
            ranked.append((-quality, order, Sibling(coding, suffix)))
    ranked.sort(key=lambda entry: (entry[0], entry[1]))
    return [entry[2] for entry in ranked]
