"""The events the request parser yields, in the order they happen on the wire.

A connection sees, per request: one `RequestHead`, zero or more `BodyData`, one `MessageEnd`.
A `ProtocolError` ends the stream: the peer sent something we refuse, and the connection
must be answered with its status and closed.

These are plain classes with a written `__init__`, not dataclasses, because some are made
on every request: mypyc compiles a written `__init__`, but a dataclass's is generated at
import time and runs interpreted, ~0.8-3k instructions a call (docs/design.md, "What is
slow only compiled"). `fields_repr` gives them the repr a dataclass would have.
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
        return fields_repr(self, _HEAD_FIELDS)


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
        return fields_repr(self, ("data",))


class MessageEnd:
    """The request body is complete. `trailers` holds chunked trailer fields, if any."""

    __slots__ = ("trailers",)

    def __init__(self, trailers: list[tuple[bytes, bytes]]) -> None:
        self.trailers = trailers

    def __repr__(self) -> str:
        return fields_repr(self, ("trailers",))


class ProtocolError:
    """The peer broke the protocol: answer `status` and close. `detail` is for the log."""

    __slots__ = ("detail", "status")

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail

    def __repr__(self) -> str:
        return fields_repr(self, ("status", "detail"))


Event = RequestHead | BodyData | MessageEnd | ProtocolError


def fields_repr(obj: object, names: tuple[str, ...]) -> str:
    """`Class(name=value, ...)` of `obj`'s fields `names`, as a dataclass repr reads."""
    fields = ", ".join(f"{name}={getattr(obj, name)!r}" for name in names)
    return f"{type(obj).__name__}({fields})"
