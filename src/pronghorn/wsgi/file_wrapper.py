"""`wsgi.file_wrapper`: lets an app hand us a file so we can send it zero-copy.

Iterating the wrapper reads blocks (the PEP 3333 fallback); the runner recognises it and,
when the file is a regular file with a descriptor, sends it with the sink's `sendfile`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from typing import Any, BinaryIO, Final

_DEFAULT_BLOCK: Final = 65536


class FileWrapper:
    """The object `environ["wsgi.file_wrapper"](filelike, blksize)` returns."""

    def __init__(self, filelike: Any, blksize: int = _DEFAULT_BLOCK) -> None:
        self.filelike = filelike
        self.blksize = blksize
        close = getattr(filelike, "close", None)
        if close is not None:
            self.close = close

    def __iter__(self) -> Iterator[bytes]:
        read = self.filelike.read
        while block := read(self.blksize):
            yield block

    def regular_file(self) -> tuple[BinaryIO, int, int] | None:
        """(file, position, bytes left) when the file can go through sendfile, else None."""
        filelike = self.filelike
        try:
            fd = filelike.fileno()
            info = os.fstat(fd)
            position = filelike.tell()
        except (AttributeError, OSError, ValueError):
            return None
        if not stat.S_ISREG(info.st_mode) or "b" not in getattr(filelike, "mode", "b"):
            return None
        return filelike, position, max(info.st_size - position, 0)
