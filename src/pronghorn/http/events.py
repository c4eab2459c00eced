"""The events the request parser yields, in the order they happen on the wire.

A connection sees, per request: one `RequestHead`, zero or more `BodyData`, one `MessageEnd`.
A `ProtocolError` ends the stream: the peer sent something we refuse, and the connection
must be answered with its status and closed.

These are plain classes with a written `__init__`, not dataclasses, because some are made
on every request: mypyc compiles a written `__init__`, but a dataclass's is generated at
import time and runs interpreted, ~0.8-3k instructions a call (docs/design.md, "Writing
code that compiles correctly").
"""

from __future__ import annotations

from enum import Enum
from typing import Final


class BodyKind(Enum):
    """How the request body is delimited (RFC 9112 section 6.3)."""

    NONE = 0
    LENGTH = 1
    CHUNKED = 2


class RequestHead:
    """A complete, validated request line and header section.

    `headers` keeps the names as received (original case) and drops fields whose names
    contain "_", so that `X_Forwarded_For` can never pose as `X-Forwarded-For` downstream.
    """

    __slots__ = (
        "body_kind",
        "content_length",
        "expect_continue",
        "headers",
        "keep_alive",
        "method",
        "path",
        "query",
        "target",
        "version",
    )

    def __init__(
        self,
        method: str,
        target: bytes,
        path: bytes,
        query: bytes,
        version: str,
        headers: list[tuple[bytes, bytes]],
        keep_alive: bool,
        expect_continue: bool,
        body_kind: BodyKind,
        content_length: int | None,
    ) -> None:
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.body_kind = body_kind
        self.content_length = content_length

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _HEAD_FIELDS)
        return f"{type(self).__name__}({fields})"


_HEAD_FIELDS: Final = (
    "method",
    "target",
    "path",
    "query",
    "version",
    "headers",
    "keep_alive",
    "expect_continue",
    "body_kind",
    "content_length",
)


class BodyData:
    """A piece of request body, already de-chunked."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"BodyData(data={self.data!r})"


class MessageEnd:
    """The request body is complete. `trailers` holds chunked trailer fields, if any."""

    __slots__ = ("trailers",)

    def __init__(self, trailers: list[tuple[bytes, bytes]]) -> None:
        self.trailers = trailers

    def __repr__(self) -> str:
        return f"MessageEnd(trailers={self.trailers!r})"


class ProtocolError:
    """The peer broke the protocol: answer `status` and close. `detail` is for the log."""

    __slots__ = ("detail", "status")

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail

    def __repr__(self) -> str:
        return f"ProtocolError(status={self.status!r}, detail={self.detail!r})"


Event = RequestHead | BodyData | MessageEnd | ProtocolError
