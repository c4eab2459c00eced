"""PROXY protocol headers built from their parts, for the tests (haproxy's proxy-protocol.txt).

`v1(...)` writes a version 1 line; `v2(...)` a version 2 header with any command, family
byte, address block and TLVs, and its length field computed unless one is given.
"""

from __future__ import annotations

import ipaddress
import struct

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
LOCAL, PROXY = 0x20, 0x21
TCP4, UDP4, TCP6, UDP6, UNIX_STREAM, UNSPEC = 0x11, 0x12, 0x21, 0x22, 0x31, 0x00
PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY, PP2_TYPE_NOOP, PP2_TYPE_UNIQUE_ID = 0x01, 0x02, 0x04, 0x05
PP2_TYPE_SSL, PP2_SUBTYPE_SSL_VERSION = 0x20, 0x21


def v1(family: str, *fields: str) -> bytes:
    return " ".join(["PROXY", family, *fields]).encode("ascii") + b"\r\n"


def tlv(kind: int, value: bytes) -> bytes:
    return struct.pack("!BH", kind, len(value)) + value


def ssl_tlv(client: int, verify: int = 0, version: bytes = b"TLSv1.3") -> bytes:
    value = struct.pack("!BI", client, verify) + tlv(PP2_SUBTYPE_SSL_VERSION, version)
    return tlv(PP2_TYPE_SSL, value)


def addresses(source: str, destination: str, source_port: int, destination_port: int) -> bytes:
    """The address block of an INET or INET6 header."""
    packed_source = ipaddress.ip_address(source).packed
    packed_destination = ipaddress.ip_address(destination).packed
    return packed_source + packed_destination + struct.pack("!HH", source_port, destination_port)


def unix_addresses(source: bytes, destination: bytes) -> bytes:
    return source.ljust(108, b"\0") + destination.ljust(108, b"\0")


def v2(
    command: int = PROXY,
    family: int = TCP4,
    block: bytes = b"",
    tlvs: bytes = b"",
    length: int | None = None,
) -> bytes:
    body = block + tlvs
    size = len(body) if length is None else length
    return SIGNATURE + bytes([command, family]) + struct.pack("!H", size) + body
