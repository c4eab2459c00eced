"""Size limits of the request parser (`--limit-request-*`), with gunicorn's defaults.

Owns `ParserLimits` and the bounds derived from it, shared by the parser and the parts of
a request head or trailer section that arrive in pieces (`pronghorn.http.sections`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# Bytes a field line may carry beyond name and value (":", OWS, CRLF) before the guard on
# an unterminated line calls it too large.
_LINE_SLACK: Final = 64


@dataclass(frozen=True, slots=True)
class ParserLimits:
    """Size limits, with gunicorn's defaults. 0 for `max_body` means unlimited.

    `max_request_line` bounds the whole request line (method, target and version, without
    its CRLF): RFC 9112 section 3 recommends at least 8000 octets.
    """

    max_request_line: int = 8190
    max_fields: int = 100
    max_field_size: int = 8190
    max_body: int = 0

    @property
    def max_head(self) -> int:
        """Upper bound on the bytes one request head may take before we give up on it."""
        return self.max_request_line + self.max_fields * (self.max_field_size + 4) + 4

    @property
    def max_line(self) -> int:
        """Upper bound on one unterminated field line of a head or trailer section."""
        return max(self.max_request_line, self.max_field_size) + _LINE_SLACK
