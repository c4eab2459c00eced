"""Validation of what an application passes to `start_response`.

Owns the rule that an app's status and headers can never split a response or smuggle
framing: CR, LF, NUL or non-latin-1 text, a malformed status, a bad field name, and
hop-by-hop fields are the application's error (we answer 500), never bytes on the wire.
"""

from __future__ import annotations

import re
from typing import Final

# PEP 3333 / RFC 9110 section 7.6.1: the app must not set hop-by-hop fields; Connection is
# tolerated because "Connection: close" is a common, harmless way to ask for a close.
_HOP_BY_HOP: Final = frozenset(
    {
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
_FIELD_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_STATUS: Final = re.compile(r"[1-9][0-9]{2} [^\r\n\x00]*")
_BAD_VALUE: Final = re.compile(r"[\r\n\x00]")
_DIGITS: Final = re.compile(r"[0-9]+")


class AppResponseError(Exception):
    """The application broke PEP 3333 in what it asked us to send (our 500, its fault)."""


def check_status(status: object) -> str:
    if type(status) is not str:
        raise AppResponseError(f"status must be a str, got {type(status).__name__}")
    if _STATUS.fullmatch(status) is None or not _is_latin1(status):
        raise AppResponseError(f"malformed status line {status!r}")
    return status


# Names apps send on nearly every response, already known to be valid tokens that are
# neither hop-by-hop nor Content-Length: they skip the name checks (a measured 1 µs a
# response on hello-world).
_COMMON_NAMES: Final = frozenset(
    {
        "Content-Type",
        "Cache-Control",
        "Set-Cookie",
        "Vary",
        "Location",
        "ETag",
        "Last-Modified",
        "Expires",
        "X-Frame-Options",
        "X-Content-Type-Options",
        "Referrer-Policy",
        "Cross-Origin-Opener-Policy",
        "Content-Disposition",
        "Content-Encoding",
        "Content-Language",
        "Accept-Ranges",
        "Date",
        "Server",
    }
)


def check_headers(headers: object) -> list[tuple[str, str]]:
    if type(headers) is not list:
        raise AppResponseError(f"headers must be a list, got {type(headers).__name__}")
    for item in headers:
        if type(item) is not tuple or len(item) != 2:
            raise AppResponseError(f"each header must be a (name, value) tuple, got {item!r}")
        name, value = item
        if type(name) is not str or type(value) is not str:
            raise AppResponseError(f"header name and value must be str: {item!r}")
        # Printable ASCII has no CR, LF, NUL or other control character: the common case,
        # checked in C; anything else (a tab, latin-1 text) takes the full check.
        if not (value.isascii() and value.isprintable()) and (
            _BAD_VALUE.search(value) is not None or not _is_latin1(value)
        ):
            raise AppResponseError(f"invalid characters in header {name}: {value!r}")
        if name not in _COMMON_NAMES:
            _check_name(name, value)
    return headers


def _check_name(name: str, value: str) -> None:
    if _FIELD_NAME.fullmatch(name) is None:
        raise AppResponseError(f"invalid header name {name!r}")
    lname = name.lower()
    if lname in _HOP_BY_HOP:
        raise AppResponseError(f"hop-by-hop header {name!r} is the server's to set")
    if lname == "content-length" and _DIGITS.fullmatch(value.strip()) is None:
        raise AppResponseError(f"invalid Content-Length {value!r}")


def _is_latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True
