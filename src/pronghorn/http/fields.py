"""Field-value grammar the parser needs beyond what llhttp checks (RFC 9110 section 5).

Holds the Host value syntax and the comma-separated list rule.
"""

from __future__ import annotations

import re
from typing import Final

# uri-host [ ":" port ] (RFC 9110 section 7.2, RFC 3986 section 3.2.2); empty is allowed.
HOST_VALUE: Final = re.compile(rb"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]*)(:[0-9]*)?")


def comma_tokens(value: bytes) -> list[bytes]:
    """The lower-cased elements of a comma-separated list, empty elements dropped.

    RFC 9110 section 5.6.1: recipients accept and ignore empty list elements and the
    OWS around each element.
    """
    return [t for t in (part.strip(b" \t").lower() for part in value.split(b",")) if t]
