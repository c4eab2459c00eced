"""From a request path to an open file inside a mounted directory, safely.

Owns the mount table (longest prefix first) and every rule that keeps a request inside
its directory: the path is percent-decoded once and checked segment by segment (no `.`
or `..`, no NUL, no backslash, no encoded slash, no dotfiles unless allowed, no Windows
device names, bounded lengths), then opened (never followed by a separate stat: the
open descriptor is what we fstat and send) and the real path of that descriptor must lie
under the mount's real root unless symlinks leaving the root are allowed.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, unquote_to_bytes

MAX_SEGMENT: Final = 255
MAX_PATH: Final = 4096
_DEVICE_NAME: Final = re.compile(
    rb"^(con|prn|aux|nul|com[0-9\xb9\xb2\xb3]|lpt[0-9\xb9\xb2\xb3]|conin\$|conout\$)$", re.I
)
# Also how `answer.Body` reopens a file the cache already approved (see static/cache.py).
OPEN_FLAGS: Final = (
    os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
)
_PROC_FD: Final = "/proc/self/fd/"


@dataclass(frozen=True, slots=True)
class Mount:
    """A URL prefix ("" for the root) and the real path of the directory served there."""

    prefix: bytes
    root: bytes


@dataclass(frozen=True, slots=True)
class Refused:
    """The path is refused before touching the disk: answer `status`."""

    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class Located:
    """A decoded, checked path below a mount: its segments, and whether it ended in "/"."""

    mount: Mount
    segments: tuple[bytes, ...]
    trailing_slash: bool

    def fs_path(self) -> bytes:
        return os.path.join(self.mount.root, *self.segments) if self.segments else self.mount.root

    def url_path(self) -> str:
        """The normalised URL path (percent-encoded, always one leading slash)."""
        tail = "".join("/" + quote(segment, safe="!$&'()*+,;=:@~-._") for segment in self.segments)
        return self.mount.prefix.decode("latin-1") + tail


def make_mounts(pairs: list[tuple[str, str]]) -> list[Mount]:
    """Mounts from (prefix, directory) pairs, longest prefix first; roots made real."""
    mounts = [
        Mount(prefix.encode("latin-1"), os.fsencode(os.path.realpath(directory)))
        for prefix, directory in pairs
    ]
    mounts.sort(key=lambda mount: len(mount.prefix), reverse=True)
    return mounts


def locate(mounts: list[Mount], raw_path: bytes, allow_dotfiles: bool) -> Located | Refused | None:
    """The mount a raw request path falls under and its checked segments; None if no mount."""
    if len(raw_path) > MAX_PATH:
        return None if _find_mount(mounts, raw_path) is None else Refused(414, "path too long")
    lowered = raw_path.lower()
    encoded_separator = b"%2f" in lowered or b"%5c" in lowered
    path = unquote_to_bytes(raw_path) if b"%" in raw_path else raw_path
    found = _find_mount(mounts, path)
    if found is None:
        return None
    mount, rest = found
    if encoded_separator:
        return Refused(400, "encoded slash or backslash")
    segments = []
    for segment in rest.split(b"/"):
        if not segment:
            continue
        refusal = _check_segment(segment, allow_dotfiles)
        if refusal is not None:
            return refusal
        segments.append(segment)
    return Located(mount, tuple(segments), rest.endswith(b"/"))


def _find_mount(mounts: list[Mount], path: bytes) -> tuple[Mount, bytes] | None:
    for mount in mounts:
        prefix = mount.prefix
        if not prefix:
            return mount, path
        if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == 0x2F):
            return mount, path[len(prefix) :]
    return None


def _check_segment(segment: bytes, allow_dotfiles: bool) -> Refused | None:
    if b"\0" in segment or b"\\" in segment:
        return Refused(400, "NUL or backslash in the path")
    if segment in (b".", b".."):
        return Refused(400, "dot segment in the path")
    if len(segment) > MAX_SEGMENT:
        return Refused(404, "name too long")
    if segment.startswith(b".") and not allow_dotfiles:
        return Refused(404, "dotfile")
    if any(byte < 0x20 or byte == 0x7F for byte in segment):
        return Refused(400, "control character in the path")
    stem = segment.split(b".", 1)[0].rstrip(b" ")
    if _DEVICE_NAME.match(stem) or segment.endswith((b" ", b".")) or b":" in segment:
        return Refused(404, "reserved file name")
    return None


class NotFound(Exception):
    """Nothing servable at that path (missing, not regular, outside the root, unreadable)."""


def open_inside(path: bytes, root: bytes, follow_outside: bool) -> int:
    """Open `path` read-only and return the descriptor; raise NotFound when it must not be served.

    The containment check reads the real path of the open descriptor (Linux /proc), so a
    symlink swapped in between the check and the open cannot redirect us.
    """
    try:
        fd = os.open(path, OPEN_FLAGS)
    except OSError as exc:
        if exc.errno in (
            errno.ENOENT,
            errno.ENOTDIR,
            errno.ENAMETOOLONG,
            errno.ELOOP,
            errno.EACCES,
            errno.EPERM,
            errno.EISDIR,
            errno.ENXIO,
            errno.EINVAL,
        ):
            raise NotFound(path) from exc
        raise
    if follow_outside or _inside(fd, path, root):
        return fd
    os.close(fd)
    raise NotFound(path)


def _inside(fd: int, path: bytes, root: bytes) -> bool:
    try:
        real = os.fsencode(os.readlink(_PROC_FD + str(fd)))
    except OSError:
        # No /proc (not Linux): the path's real path, checked right after the open.
        real = os.path.realpath(path)
    return real == root or real.startswith(root.rstrip(b"/") + b"/")


def is_regular(mode: int) -> bool:
    return stat.S_ISREG(mode)


def is_directory(mode: int) -> bool:
    return stat.S_ISDIR(mode)
