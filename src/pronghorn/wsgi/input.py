"""`wsgi.input`: a file-like reader over the request body as it arrives.

Owns buffering for `readline` and the PEP 3333 read semantics (`read()`, `read(n)`,
`readline()`, `readline(n)`, `readlines()`, iteration). It never holds more of the body
than the caller asked for plus one received piece.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from pronghorn.channel import BodySource

_READ_PIECE: Final = 65536


class InputStream:
    """The request body as a binary stream; reading past the end returns b""."""

    __slots__ = ("_buffer", "_eof", "_source")

    def __init__(self, source: BodySource) -> None:
        self._source = source
        self._buffer = bytearray()
        self._eof = False

    def _fill(self, want: int) -> bool:
        """Receive one more piece into the buffer; False once the body has ended."""
        if self._eof:
            return False
        piece = self._source.read_some(max(want, 1))
        if not piece:
            self._eof = True
            return False
        self._buffer += piece
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self._read_all()
        if not self._buffer and size:
            # The common case (a framework reading CONTENT_LENGTH bytes at once): a piece
            # that is exactly what was asked for is returned as it came, uncopied.
            if self._eof:
                return b""
            piece = self._source.read_some(size)
            if len(piece) == size:
                return piece
            if not piece:
                self._eof = True
                return b""
            self._buffer += piece
        while len(self._buffer) < size and self._fill(size - len(self._buffer)):
            pass
        return self._take(size)

    def _read_all(self) -> bytes:
        pieces = [self._take(len(self._buffer))] if self._buffer else []
        while not self._eof:
            piece = self._source.read_some(_READ_PIECE)
            if piece:
                pieces.append(piece)
            else:
                self._eof = True
        return b"".join(pieces)

    def readline(self, size: int | None = -1) -> bytes:
        limit = -1 if size is None else size
        scanned = 0
        while True:
            newline = self._buffer.find(b"\n", scanned)
            if newline >= 0:
                end = newline + 1
                break
            scanned = len(self._buffer)
            if 0 <= limit <= scanned or not self._fill(_READ_PIECE):
                end = len(self._buffer)
                break
        if limit >= 0:
            end = min(end, limit)
        return self._take(end)

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def _take(self, size: int) -> bytes:
        buffer = self._buffer
        if size >= len(buffer):
            data = bytes(buffer)  # one copy, not a slice and a copy of it
            buffer.clear()
            return data
        data = bytes(buffer[:size])
        del buffer[:size]
        return data

    def drained(self) -> bool:
        """True once the whole body has been read by the application."""
        return self._eof and not self._buffer


class EmptyInput:
    """`wsgi.input` of a request that has no body: stateless, so one serves them all."""

    __slots__ = ()

    def read(self, size: int | None = -1) -> bytes:
        return b""

    def readline(self, size: int | None = -1) -> bytes:
        return b""

    def readlines(self, hint: int = -1) -> list[bytes]:
        return []

    def __iter__(self) -> Iterator[bytes]:
        return iter(())
