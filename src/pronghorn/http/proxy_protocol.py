"""The PROXY protocol header (haproxy's proxy-protocol.txt, versions 1 and 2), sans I/O.

Owns `parse`: the bytes a connection began with in, and out one of "need more" (None), the
header (`ProxyHeader`: how many bytes it took on the wire and what it says about the
client) or `ProxyHeaderError` (close the connection). The version is recognised from the
first bytes: the 12-byte binary signature is version 2, `PROXY ` is version 1, anything
else is refused at once.

`parse` is a function of the whole buffer so far, and monotonic: once it has an answer
(a header or an error) for some bytes, every longer buffer that starts with them gets the
same answer. So a caller may feed it what it has peeked at, consume only what it has been
told is header, and never read past the header: whatever follows (HTTP, a TLS handshake)
stays for the next layer. Bytes after the header never change the result.

What it checks, and what it leaves:
- Version 1: one line of printable US-ASCII ending in CRLF within 107 bytes; `TCP4` or
  `TCP6`, each address canonical for its family (no leading zeros in IPv4, no zone in
  IPv6), ports without leading zeros up to 65535, single spaces. `UNKNOWN` (anything up to
  the CRLF) means "use the real peer".
- Version 2: version 2, command LOCAL (health checks: use the real peer, the rest of the
  block is skipped) or PROXY; family and protocol nibbles that the spec defines; an address
  block long enough for its family; the whole header at most `V2_MAX` bytes (the spec
  allows 64 KiB; no sender needs more than a few hundred). TLVs after the address block
  must be well formed; all are skipped but PP2_TYPE_SSL, whose PP2_CLIENT_SSL bit says the
  client spoke TLS to the proxy. A PP2_TYPE_CRC32C checksum is not verified. AF_UNSPEC,
  an unspecified protocol and AF_UNIX (a socket path is no client address) mean "use the
  real peer", as the spec allows.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final

V2_SIGNATURE: Final = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX: Final = b"PROXY "
V1_MAX: Final = 107
"""Bytes of the longest version 1 line, CRLF included (the spec's worst case)."""
V2_MAX: Final = 4096
"""Bytes of the longest version 2 header accepted: the 16 fixed ones, addresses and TLVs."""
MAX_HEADER: Final = max(V1_MAX, V2_MAX)
"""What a caller must be able to look at to get an answer."""

_V2_FIXED: Final = 16
_LOCAL, _PROXY = 0x0, 0x1
_AF_UNSPEC, _AF_INET, _AF_INET6, _AF_UNIX = 0x0, 0x1, 0x2, 0x3
_ADDRESS_BYTES: Final = {_AF_INET: 12, _AF_INET6: 36, _AF_UNIX: 216}
_PP2_TYPE_SSL: Final = 0x20
_PP2_CLIENT_SSL: Final = 0x01
_PP2_SSL_FIXED: Final = 5  # the client bit field and the 32-bit verify result
_MAX_PORT_DIGITS: Final = 5


class ProxyHeaderError(ValueError):
    """The connection did not start with a valid PROXY header; the message says why."""


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """A complete header. `source` is the client's address (canonical text) and port, or
    None when the header names none (LOCAL, UNKNOWN, AF_UNSPEC, AF_UNIX): the connection
    keeps its real peer."""

    length: int
    """Bytes the header took on the wire: what to consume, and no more."""
    version: int
    source: tuple[str, int] | None = None
    destination: tuple[str, int] | None = None
    tls: bool = False
    """Version 2 only: the proxy says the client connected to it over TLS (PP2_TYPE_SSL)."""


def parse(data: bytes) -> ProxyHeader | None:
    """The header at the start of `data`; None while it is incomplete (and valid so far).
    Raises ProxyHeaderError for anything else."""
    size = len(data)
    if data[: min(size, 12)] == V2_SIGNATURE[: min(size, 12)]:
        return _parse_v2(data)
    if data[: min(size, 6)] == V1_PREFIX[: min(size, 6)]:
        return _parse_v1(data)
    raise ProxyHeaderError(f"no PROXY signature: the connection began {_show(data[:16])}")


# -- version 1 -----------------------------------------------------------------------------


def _parse_v1(data: bytes) -> ProxyHeader | None:
    end = data.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        # No CRLF yet: refuse now what no continuation can make valid.
        if len(data) >= V1_MAX:
            raise ProxyHeaderError(f"PROXY v1 line longer than {V1_MAX} bytes")
        seen = data[:-1] if data.endswith(b"\r") else data
        _check_v1_text(seen)
        return None
    line = data[:end]
    _check_v1_text(line)
    parts = line.split(b" ")
    family = parts[1]
    if family == b"UNKNOWN":
        return ProxyHeader(end + 2, 1)
    if family not in (b"TCP4", b"TCP6"):
        raise ProxyHeaderError(f"PROXY v1 with unknown protocol {_show(family)}")
    if len(parts) != 6:
        raise ProxyHeaderError("PROXY v1 line without exactly four fields after the protocol")
    _, _, source, destination, source_port, destination_port = parts
    version = 4 if family == b"TCP4" else 6
    return ProxyHeader(
        end + 2,
        1,
        (_v1_address(source, version), _v1_port(source_port)),
        (_v1_address(destination, version), _v1_port(destination_port)),
    )


def _check_v1_text(text: bytes) -> None:
    """Printable US-ASCII only: a bare CR or LF, a control or 8-bit byte is never valid."""
    if not (text.isascii() and text.decode("ascii").isprintable()):
        raise ProxyHeaderError("PROXY v1 line with a byte that is not printable US-ASCII")


def _v1_address(text: bytes, version: int) -> str:
    value = text.decode("ascii")
    try:
        if version == 4:
            return str(ipaddress.IPv4Address(value))
        if "%" in value:  # a zone (fe80::1%eth0) is no address the other side can use
            raise ValueError(value)
        return str(ipaddress.IPv6Address(value))
    except ValueError:
        raise ProxyHeaderError(f"PROXY v1 with a bad IPv{version} address {_show(text)}") from None


def _v1_port(text: bytes) -> int:
    if (
        not text.isdigit()
        or len(text) > _MAX_PORT_DIGITS
        or (text[:1] == b"0" and len(text) > 1)
        or int(text) > 65535
    ):
        raise ProxyHeaderError(f"PROXY v1 with a bad port {_show(text)}")
    return int(text)


def _show(text: bytes) -> str:
    """A field for a log line: printable, and short."""
    return repr(text[:48].decode("ascii", "replace"))


# -- version 2 -----------------------------------------------------------------------------


def _parse_v2(data: bytes) -> ProxyHeader | None:
    size = len(data)
    if size > 12:
        version, command = data[12] >> 4, data[12] & 0x0F
        if version != 2:
            raise ProxyHeaderError(f"PROXY v2 signature with version {version}")
        if command not in (_LOCAL, _PROXY):
            raise ProxyHeaderError(f"PROXY v2 with unknown command {command}")
    if size < _V2_FIXED:
        return None
    command = data[12] & 0x0F
    family, protocol = data[13] >> 4, data[13] & 0x0F
    total = _V2_FIXED + int.from_bytes(data[14:16], "big")
    if total > V2_MAX:
        raise ProxyHeaderError(f"PROXY v2 header of {total} bytes, more than {V2_MAX}")
    if command == _PROXY and (family > _AF_UNIX or protocol > 2):
        raise ProxyHeaderError(f"PROXY v2 with unknown family and protocol 0x{data[13]:02x}")
    if size < total:
        return None
    if command == _LOCAL:
        return ProxyHeader(total, 2)  # the rest of the block is not looked at
    block = data[_V2_FIXED:total]
    if family == _AF_UNSPEC or protocol == 0:
        return ProxyHeader(total, 2)  # addresses (and any TLVs) are to be ignored
    needed = _ADDRESS_BYTES[family]
    if len(block) < needed:
        raise ProxyHeaderError(
            f"PROXY v2 address block of {len(block)} bytes, family 0x{family:x} needs {needed}"
        )
    tls = _tls_from_tlvs(block, needed)
    if family == _AF_UNIX:
        return ProxyHeader(total, 2, tls=tls)
    half = (needed - 4) // 2
    source = _v2_address(block[:half]), int.from_bytes(block[2 * half : 2 * half + 2], "big")
    destination = (
        _v2_address(block[half : 2 * half]),
        int.from_bytes(block[2 * half + 2 : needed], "big"),
    )
    return ProxyHeader(total, 2, source, destination, tls)


def _v2_address(packed: bytes) -> str:
    if len(packed) == 4:
        return str(ipaddress.IPv4Address(packed))
    return str(ipaddress.IPv6Address(packed))


def _tls_from_tlvs(block: bytes, start: int) -> bool:
    """Walk the TLVs after the addresses (each must fit); True when PP2_TYPE_SSL says the
    client connected over TLS."""
    tls = False
    position, end = start, len(block)
    while position < end:
        if position + 3 > end:
            raise ProxyHeaderError("PROXY v2 with a truncated TLV")
        kind = block[position]
        length = int.from_bytes(block[position + 1 : position + 3], "big")
        value_at = position + 3
        position = value_at + length
        if position > end:
            raise ProxyHeaderError(f"PROXY v2 TLV 0x{kind:02x} longer than the header")
        if kind == _PP2_TYPE_SSL:
            if length < _PP2_SSL_FIXED:
                raise ProxyHeaderError("PROXY v2 with a truncated PP2_TYPE_SSL TLV")
            tls = bool(block[value_at] & _PP2_CLIENT_SSL)
    return tls
