"""The events the request parser yields, in the order they happen on the wire.

A connection sees, per request: one `RequestHead`, zero or more `BodyData`, one `MessageEnd`.
A `ProtocolError` ends the stream: the peer sent something we refuse, and the connection
must be answered with its status and closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class BodyKind(Enum):
    """How the request body is delimited (RFC 9112 section 6.3)."""

    NONE = 0
    LENGTH = 1
    CHUNKED = 2


@dataclass(slots=True, eq=False)
class RequestHead:
    """A complete, validated request line and header section.

    `headers` keeps the names as received (original case) and drops fields whose names
    contain "_", so that `X_Forwarded_For` can never pose as `X-Forwarded-For` downstream.
    """

    method: str
    target: bytes
    path: bytes
    query: bytes
    version: str
    headers: list[tuple[bytes, bytes]]
    keep_alive: bool
    expect_continue: bool
    body_kind: BodyKind
    content_length: int | None


@dataclass(slots=True, eq=False)
class BodyData:
    """A piece of request body, already de-chunked."""

    data: bytes


@dataclass(slots=True, eq=False)
class MessageEnd:
    """The request body is complete. `trailers` holds chunked trailer fields, if any."""

    trailers: list[tuple[bytes, bytes]]


@dataclass(slots=True, eq=False)
class ProtocolError:
    """The peer broke the protocol: answer `status` and close. `detail` is for the log."""

    status: int
    detail: str


Event = RequestHead | BodyData | MessageEnd | ProtocolError
