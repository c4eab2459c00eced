"""The static layer's memory: where request paths lead, and what the files there were.

Owns `BoundedCache` (the size-bounded, thread-shared maps one worker keeps: raw request
path -> checked location, file-system path -> `Entry`), what an entry holds (`Entry`,
`Representation`), a file's stat `Identity`, and the two rules that decide whether an entry
may answer a request: `settled` (may it be stored at all) and `unchanged` (may it answer
this request). Building entries is `lookup`'s business, answering from them `answer`'s.

Why answering from an entry after one `stat` keeps every guarantee of the full path
(`paths.open_inside`: open, real path of the descriptor inside the root, fstat):

- An entry is only ever made by the full path: its file, and each sibling it serves, was
  opened and found inside the mount's root (or the symlink rule allowed it) and regular.
- Identity is (st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns), taken by `stat`, which
  follows symlinks exactly like the open does. Same device and inode is the same file; and
  the kernel sets ctime to the current time on every change to the inode: a write, a
  truncate, chmod/chown, utime (which can set mtime to anything, never ctime), a new or
  removed hard link (and a rename, on ext4, XFS, Btrfs, tmpfs; a file renamed *onto* the
  path is another inode anyway). So equal identity means the very file the full check
  approved, unchanged since, and the bytes kept for it are still its bytes.
- A path component swapped for a symlink that leads out of the root: if the path now
  reaches a different inode (or one changed since), the identity differs and the request
  takes the full path, which refuses it. If it reaches the same, unchanged inode, that is
  the file already approved, with the content already approved: nothing new is disclosed.
  The same holds for an inode number reused by a new file: its ctime is its creation time.
- Siblings (`.br`, `.gz`): one that was there is revalidated by identity like the file; one
  that was not must still not be (`access(F_OK)`, which follows symlinks like the open).
  An entry is not stored when a sibling exists but cannot be served (a symlink out of the
  root, a directory, an unreadable file): those files always take the full path.
- The folder's shortcut for absent siblings: an entry may also keep the identity of the
  folder that holds the file (`parent`, `parent_identity`), taken before the siblings were
  looked for, when it was settled and no absent sibling had a name in it at all (not even
  a dangling symlink, which `access` takes for absent: its target could appear elsewhere).
  Creating, removing or renaming a name in a folder sets the folder's mtime and ctime, so
  while the folder's identity is unchanged, the names that were not in it still are not,
  and one stat of the folder answers for every absent sibling. When it changed (a folder
  where other files come and go), each absent sibling is probed as above: never a wrong
  answer, only the probes again.
- Timestamps have a granularity (a kernel tick of a few ms on local file systems, a whole
  second or two on some). A change in the same tick as the previous one keeps ctime equal,
  so an entry is only stored once the file's ctime is `SETTLE_NS` older than the moment
  before its stat (`settled`): any later change then lands in a later tick and shows. Git's
  index handles "racily clean" files the same way; nginx's open_file_cache does not.

Residual risks: a file changed through a path that does not update ctime (a write through a
shared mmap shows only when the kernel updates the times, as it does for any reader); the
system clock stepped back by more than SETTLE_NS between two changes; and file systems whose
`stat` may be stale (NFS attribute caching): for those, turn the cache off.

Thread safety: readers only call `dict.get` (one atomic C call under the GIL) and entries
are never mutated after they are built, so the hot path takes no lock. Writers (store,
drop, evict) hold a small lock, so eviction can iterate the dict safely.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

from pronghorn.static.conditions import Validators

SETTLE_NS: Final = 2_000_000_000
"""An entry is stored only if its files' ctime is this much older than the moment before
their stat: the coarsest timestamp granularity we allow for (FAT's two seconds)."""

Identity = tuple[int, int, int, int, int]
"""(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns) of a file, following symlinks."""

Siblings = tuple[tuple[bytes, Identity | None], ...]
"""An entry's precompressed siblings: each one's path and identity, None where there was
nothing."""

_CTIME: Final = 4

_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


def identity(info: os.stat_result) -> Identity:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def settled(ident: Identity, before_stat_ns: int, settle_ns: int = SETTLE_NS) -> bool:
    """True when a change after `before_stat_ns` would show in ctime (see the module doc)."""
    return ident[_CTIME] < before_stat_ns - settle_ns


@dataclass(slots=True, eq=False)
class Representation:
    """One file an entry may send (the file itself or a precompressed sibling), approved
    by the full check, with everything about its answer that does not depend on the request.

    Never changed once built, but for the memo `whole_heads`: threads read it without a
    lock, and the header lists are shared by every answer (the access log reads them).
    Not `frozen`, as a frozen dataclass costs a microsecond more to build, on every
    full-path request.
    """

    path: bytes
    identity: Identity
    coding: str
    """"" for the file itself, else the Content-Encoding ("br", "gzip")."""
    validators: Validators
    headers: list[tuple[str, str]]
    """Content-Type, Last-Modified, ETag, Cache-Control, Content-Encoding?, Vary?"""
    ok_headers: list[tuple[str, str]]
    """`headers`, Accept-Ranges and Content-Length: those of a 200."""
    ok_head: bytes | None
    """The 200 head up to the Date value (`fixed_head_start`); None (built when needed) if
    the entry is not kept."""
    not_modified_headers: list[tuple[str, str]]
    not_modified_head: bytes | None
    """The same for a 304."""
    body: bytes | None
    """The whole file when it is small and within the byte budget, else None (read it)."""
    whole_heads: dict[tuple[str, str, bool], bytes] = field(default_factory=dict)
    """The complete head of a 200 by (Date, request version, keep-alive), made by
    `answer.plain_answer` for the entry's kept heads: the one part of a Representation
    that changes after it is built. Bounded (`answer.WHOLE_HEADS`); each change is one
    dict operation, atomic under the GIL, and a race can only make the same head twice."""

    @property
    def size(self) -> int:
        return self.identity[2]


@dataclass(slots=True, eq=False)
class Entry:
    """What one file-system path served, and how to tell it still does. Never changed once
    built (see `Representation`)."""

    path: bytes
    """The file served: the requested path, or the index.html inside it."""
    directory: bool
    """The requested path was a directory, `path` its index.html (so only URLs ending in "/"
    may use the entry)."""
    identity: Identity
    siblings: Siblings
    """Each possible sibling's path and identity; None where there was nothing."""
    representations: Mapping[str, Representation]
    """By coding: "" always, "br"/"gzip" for the siblings that can be served."""
    parent: bytes = b""
    """The folder that holds `path` and its siblings."""
    parent_identity: Identity | None = None
    """Its identity when the folder's shortcut applies (see the module's docstring): while
    it is unchanged, the absent siblings need no probe. None: probe each."""

    @property
    def body_bytes(self) -> int:
        return sum(len(rep.body) for rep in self.representations.values() if rep.body)


def files_unchanged(
    path: bytes,
    known: Identity,
    siblings: Siblings,
    parent: bytes,
    parent_known: Identity | None,
) -> bool:
    """Are `path` and its `siblings` still what an entry saw? One stat of the file, one of
    each sibling that was there, and for the absent ones one stat of the folder when
    `parent_known` is given and still holds, else a probe each. The pure build's check; the
    compiled build's is the same in C."""
    stat = os.stat
    try:
        if identity(stat(path)) != known:
            return False
        absent_checked = False
        if parent_known is not None:
            # try, not contextlib.suppress: that costs ~0.7 µs a call, more than the
            # folder's stat saves in Python.
            try:
                absent_checked = identity(stat(parent)) == parent_known
            except OSError:
                absent_checked = False  # a folder gone: the probes decide
        for sibling, was in siblings:
            if was is None:
                if not absent_checked and os.access(sibling, os.F_OK, effective_ids=True):
                    return False
            elif identity(stat(sibling)) != was:
                return False
    except OSError:
        return False
    return True


Check = Callable[[bytes, Identity, Siblings, bytes, Identity | None], bool]
"""`files_unchanged`'s shape."""


def _native_check() -> Check | None:
    """`files_unchanged` in C (`pronghorn/static/_freshness.c`): the same system calls
    without building an `os.stat_result` for each (about half the time of the check,
    docs/design.md, "The native freshness check"). None in the pure build, and with
    PRONGHORN_PURE=1 (pronghorn.build)."""
    try:
        from pronghorn.static._freshness import files_unchanged as native
    except ImportError:
        return None
    return native


NATIVE_FILES_UNCHANGED: Final = _native_check()


def unchanged(entry: Entry) -> bool:
    """Is the disk still what `entry` saw? (`files_unchanged`, in C where it is built.)"""
    native = NATIVE_FILES_UNCHANGED
    if native is not None:
        return native(
            entry.path, entry.identity, entry.siblings, entry.parent, entry.parent_identity
        )
    return files_unchanged(
        entry.path, entry.identity, entry.siblings, entry.parent, entry.parent_identity
    )


class BoundedCache(Generic[_K, _V]):
    """A map of at most `max_entries` items whose weights add up to at most `max_weight`.

    When either bound would be passed, the oldest insertions are evicted first (FIFO: a
    hit costs no bookkeeping, and no lock). `max_entries` 0 turns the map off.
    """

    def __init__(self, max_entries: int, max_weight: int = 0) -> None:
        self._max_entries = max_entries
        self._max_weight = max_weight
        self._items: dict[_K, _V] = {}
        self._weights: dict[_K, int] = {}
        self._total = 0
        self._lock = threading.Lock()
        # The reader: the dict's own `get`, so a lookup is one C call and no Python frame
        # (a cached static GET makes two). The dict is never replaced, only changed.
        self.get: Callable[[_K], _V | None] = self._items.get

    @property
    def enabled(self) -> bool:
        return self._max_entries > 0

    @property
    def max_weight(self) -> int:
        return self._max_weight

    @property
    def weight(self) -> int:
        return self._total

    def __len__(self) -> int:
        return len(self._items)

    def put(self, key: _K, value: _V, weight: int = 0) -> bool:
        """Store `value` (replacing any older one) unless it alone breaks a bound."""
        if not self._max_entries or weight > self._max_weight:
            return False
        with self._lock:
            if key in self._items:
                self._remove(key)  # re-inserted last: it is the newest now
            self._items[key] = value
            self._weights[key] = weight
            self._total += weight
            while len(self._items) > self._max_entries or self._total > self._max_weight:
                self._remove(next(iter(self._items)))
        return True

    def drop(self, key: _K, value: _V) -> None:
        """Forget `key` if it still maps to `value` (another thread may have replaced it)."""
        with self._lock:
            if self._items.get(key) is value:
                self._remove(key)

    def _remove(self, key: _K) -> None:
        del self._items[key]
        self._total -= self._weights.pop(key)
