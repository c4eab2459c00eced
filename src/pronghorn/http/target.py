"""The request-target forms of RFC 9112 section 3.2, and what a server reads from them.

origin-form ("/path?query") for any method, asterisk-form ("*") for OPTIONS only, and
absolute-form ("http://host/path?query"), whose authority replaces the Host field.
authority-form belongs to CONNECT, which the parser refuses before it gets here.
"""

from __future__ import annotations

from typing import Final

from pronghorn.http.fields import HOST_VALUE

_SCHEMES: Final = (b"http", b"https")


class TargetError(ValueError):
    """The request-target is not one a server may accept (answer 400)."""


def split_target(target: bytes, method: str) -> tuple[bytes, bytes, bytes | None]:
    """(path, query, authority) of a request-target; authority only for absolute-form."""
    if target[:1] == b"/":
        if 35 in target:  # a "#": the byte's value is cheapest (see parser.on_header)
            raise TargetError("fragment in request-target")
        if 63 not in target:  # no "?": no partition() call (~0.45k instructions, compiled)
            return target, b"", None
        path, _, query = target.partition(b"?")
        return path, query, None
    if target == b"*":
        if method != "OPTIONS":
            raise TargetError("asterisk-form request-target outside OPTIONS")
        return target, b"", None
    return _split_absolute(target)


def _split_absolute(target: bytes) -> tuple[bytes, bytes, bytes | None]:
    scheme, sep, rest = target.partition(b"://")
    if not sep or scheme.lower() not in _SCHEMES:
        raise TargetError("request-target is neither origin-form nor an http(s) URI")
    if b"#" in rest:
        raise TargetError("fragment in request-target")
    end = len(rest)
    for delimiter in (b"/", b"?"):
        index = rest.find(delimiter)
        if 0 <= index < end:
            end = index
    authority, tail = rest[:end], rest[end:]
    # RFC 9110 section 4.2.1: an http(s) URI with an empty host is invalid; 4.2.4:
    # userinfo is deprecated and its presence is to be treated as an error.
    if b"@" in authority or authority[:1] in (b"", b":"):
        raise TargetError("absolute-form target without a valid host")
    if HOST_VALUE.fullmatch(authority) is None:
        raise TargetError("malformed authority in request-target")
    path, _, query = tail.partition(b"?")
    return path or b"/", query, authority
