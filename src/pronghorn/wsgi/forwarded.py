"""The syntax of proxy headers: what one header value says, read without trusting it.

Owns parsing only: `forwarded_elements` splits an RFC 7239 `Forwarded` value and
`parse_hop` reads one element into a `Hop`; `list_items` splits an `X-Forwarded-*` value,
`parse_node` reads one client address (`192.0.2.1`, `"[2001:db8::1]:4711"`), and `scheme`,
`host`, `parse_port` and `prefix` check one value each. Whose headers to believe, and
what they change, is `pronghorn.wsgi.proxies`.

Nothing here raises: what cannot be read is None (or a `Hop` that says nothing), because a
malformed header is a fact to ignore, never a reason to fail the request. Values are the
latin-1 `str`s of the environ.
"""

from __future__ import annotations

import re
import socket
from typing import Final, NamedTuple
from urllib.parse import unquote_to_bytes

_OWS: Final = " \t"
_TOKEN: Final = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
# RFC 9110 quoted-string: qdtext or a quoted-pair; obs-text (0x80-0xFF) allowed in both.
_QUOTED: Final = r'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_PAIR: Final = re.compile(rf"({_TOKEN})=({_TOKEN}|{_QUOTED})")
_QUOTED_PAIR: Final = re.compile(r"\\(.)")
# What we accept as a forwarded host: uri-host [":" port] with a reg-name of unreserved
# characters only (no percent-encoding, no sub-delims: no real host name needs them).
_HOST: Final = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)(?::([0-9]{1,5}))?")
_PREFIX_CHARS: Final = re.compile(r"/[!$&'()*+,;=:@%/A-Za-z0-9._~-]*")
_V4_MAPPED: Final = bytes(10) + b"\xff\xff"


# NamedTuples rather than frozen dataclasses: these are made per request behind a proxy,
# and a frozen dataclass costs several times as much to construct.
class Node(NamedTuple):
    """A client address as a proxy reported it: canonical IP text, and the port if given."""

    address: str
    port: str | None = None


class Hop(NamedTuple):
    """One `Forwarded` element: what one proxy said about the request it received.

    `node` is its client (`for=`), None when hidden (`unknown`, `_obfuscated`), missing or
    unreadable; `proto` and `host` are None when absent or not acceptable. An element that
    breaks the grammar is a Hop with all three None.
    """

    node: Node | None = None
    proto: str | None = None
    host: str | None = None


UNREADABLE: Final = Hop()


def list_items(value: str) -> list[str]:
    """The elements of a comma-separated header value, OWS stripped, empty ones dropped
    (RFC 9110 section 5.6.1)."""
    if "," not in value:  # the common case: one proxy, one item
        value = value.strip(_OWS)
        return [value] if value else []
    return [item for item in (part.strip(_OWS) for part in value.split(",")) if item]


def parse_node(text: str) -> Node | None:
    """An `X-Forwarded-For` entry or a `for=` value: `192.0.2.1`, `192.0.2.1:80`,
    `[2001:db8::1]`, `[2001:db8::1]:80` or a bare `2001:db8::1`, in canonical form (an
    IPv4-mapped IPv6 address as the IPv4 one). None for `unknown`, an obfuscated `_name`,
    and anything that is not an IP address. An obfuscated port (`192.0.2.1:_p`) is
    dropped and the address kept."""
    port: str | None = None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if rest[0] != ":":
                return None
            port = rest[1:]
        if ":" not in host:
            return None  # brackets hold IPv6 only
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host = text
    if port is not None:
        if port.startswith("_"):
            port = None
        else:
            port = parse_port(port)
            if port is None:
                return None
    address = canonical_ip(host)
    return None if address is None else Node(address, port)


def canonical_ip(text: str) -> str | None:
    """`text` as the kernel would write the address (what a peer's address looks like):
    IPv4 dotted quad, IPv6 lower-case and compressed, an IPv4-mapped IPv6 address as the
    IPv4 one. None when `text` is not an IP address (zone ids included)."""
    # inet_pton/inet_ntop: the C parser, a tenth of the cost of ipaddress.ip_address.
    try:
        if ":" not in text:
            socket.inet_pton(socket.AF_INET, text)  # strict: four decimal octets
            return text
        packed = socket.inet_pton(socket.AF_INET6, text)
    except (OSError, ValueError):
        return None
    if packed[:12] == _V4_MAPPED:
        return socket.inet_ntop(socket.AF_INET, packed[12:])  # an IPv4 client, however written
    return socket.inet_ntop(socket.AF_INET6, packed)


def forwarded_elements(value: str) -> list[str]:
    """The elements of a `Forwarded` value (RFC 7239 section 4), left to right: split at
    commas outside quoted strings, OWS stripped, empty elements dropped. An unclosed quote
    makes everything after it part of one (unreadable) element."""
    elements = (part.strip(_OWS) for part in _split_outside_quotes(value, ","))
    return [element for element in elements if element]


def parse_hop(element: str) -> Hop:
    """One `Forwarded` element. Parameter names are case-insensitive, values tokens or
    quoted strings; an element that repeats a parameter or breaks the grammar is
    `UNREADABLE`. Parameters other than for, proto and host (`by`, extensions) are read
    and ignored."""
    params: dict[str, str] = {}
    for pair in _split_outside_quotes(element, ";"):
        pair = pair.strip(_OWS)
        if not pair:
            continue
        match = _PAIR.fullmatch(pair)
        if match is None:
            return UNREADABLE
        name, value = match.group(1).lower(), match.group(2)
        if name in params:
            return UNREADABLE  # RFC 7239 section 4: each parameter at most once
        if value.startswith('"'):
            value = _QUOTED_PAIR.sub(r"\1", value[1:-1])
        params[name] = value
    node = params.get("for")
    proto = params.get("proto")
    host_value = params.get("host")
    return Hop(
        node=None if node is None else parse_node(node),
        proto=None if proto is None else scheme(proto),
        host=None if host_value is None else host(host_value),
    )


def _split_outside_quotes(value: str, separator: str) -> list[str]:
    if '"' not in value:
        return value.split(separator)
    parts = []
    start = 0
    quoted = escaped = False
    for index, char in enumerate(value):
        if escaped:
            escaped = False
        elif quoted:
            if char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == separator:
            parts.append(value[start:index])
            start = index + 1
    parts.append(value[start:])
    return parts


def scheme(value: str) -> str | None:
    """`http` or `https` (any case, normalised to lower case); None for anything else."""
    lowered = value.strip(_OWS).lower()
    return lowered if lowered in ("http", "https") else None


def host(value: str) -> str | None:
    """A Host value (`example.com`, `example.com:8443`, `[2001:db8::1]:8443`) as given;
    None when it is not one."""
    value = value.strip(_OWS)
    match = _HOST.fullmatch(value)
    if match is None:
        return None
    if match.group(2) is not None and parse_port(match.group(2)) is None:
        return None
    return value


def parse_port(value: str) -> str | None:
    """A TCP port 1-65535 as decimal text without leading zeros; None otherwise."""
    value = value.strip(_OWS)
    if not (0 < len(value) <= 5 and value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return str(number) if 0 < number <= 65535 else None


def prefix(value: str) -> str | None:
    """A URL path prefix as SCRIPT_NAME holds it: percent-decoded (latin-1 of the bytes),
    a leading slash, no trailing slash, empty segments dropped; "" for "/". None for what
    is not a path (no leading slash, a query or fragment, spaces) or has `.`/`..` segments."""
    value = value.strip(_OWS)
    if _PREFIX_CHARS.fullmatch(value) is None:
        return None
    path = unquote_to_bytes(value).decode("latin-1") if "%" in value else value
    segments = [segment for segment in path.split("/") if segment]
    if any(segment in (".", "..") for segment in segments):
        return None
    return "".join("/" + segment for segment in segments)


def split_host(value: str) -> tuple[str, str | None]:
    """A Host value as (name, port): `[::1]:80` gives ("[::1]", "80"), `a.example` gives
    ("a.example", None). Lenient: what the parser let through is split, not judged."""
    if ":" not in value:
        return value, None  # the common case: a name without a port
    if value.startswith("["):
        end = value.find("]")
        if end >= 0:
            rest = value[end + 1 :]
            port = rest[1:] if rest.startswith(":") else ""
            return value[: end + 1], port or None
    name, colon, port = value.rpartition(":")
    if colon and (not port or (port.isascii() and port.isdigit())) and ":" not in name:
        return name, port or None
    return value, None
