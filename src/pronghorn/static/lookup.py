"""Finding a static file's siblings and describing what was found: the full path's file work.

Owns what happens after the requested file was opened under the containment check
(`paths.open_inside`) and before anything is written: opening its precompressed siblings
(`.br`, `.gz`) under the same check, reading the small bodies within the memory budget, the
Cache-Control a file's name earns, and the `Entry` that describes them all, stored in the
entries cache when every file in it is settled (`cache.settled`) and each sibling is either
servable or absent. `cache` explains why an entry may later answer after one `stat`; the
headers of each representation are `pronghorn.static.answer`'s.
"""

from __future__ import annotations

import os
import re
from typing import Final, NamedTuple

from pronghorn.static import cache, codings, paths
from pronghorn.static.answer import INLINE_LIMIT, representation
from pronghorn.static.cache import BoundedCache, Entry
from pronghorn.static.content_types import content_type

IMMUTABLE_CACHE_CONTROL: Final = "public, max-age=31536000, immutable"
_FINGERPRINT: Final = re.compile(r"[.-](?=[0-9a-f]*[0-9])[0-9a-f]{8,64}\.[A-Za-z0-9]+$")

Probes = tuple[tuple[bytes, cache.Identity | None], ...]
"""Each sibling's path and identity (None: absent), as an entry revalidates them."""


class Route(NamedTuple):
    """Where a raw request path leads: `paths.locate` is pure, so this never goes stale."""

    located: paths.Located
    fs_path: bytes


class Opened(NamedTuple):
    """A file the full check opened (the requested one, coding "", or a sibling)."""

    coding: str
    path: bytes
    fd: int
    info: os.stat_result


class EntryMaker:
    """Builds the `Entry` for a file the full path opened, and keeps it when it may.

    One per `StaticFiles`, sharing its entries cache. `settle_ns` is `cache.SETTLE_NS`
    except in tests, which cache files they have just written.
    """

    def __init__(
        self,
        entries: BoundedCache[bytes, Entry],
        *,
        follow_outside_symlinks: bool,
        cache_control: str,
        immutable_fingerprinted: bool,
        settle_ns: int,
    ) -> None:
        self._entries = entries
        self._follow = follow_outside_symlinks
        self._cache_control_value = cache_control
        self._immutable_fingerprinted = immutable_fingerprinted
        self._settle_ns = settle_ns

    def examine(
        self,
        root: bytes,
        opened: list[Opened],
        directory: bool,
        before_stat: int,
        key: bytes,
        accepted: list[codings.Sibling],
    ) -> Entry:
        """The entry for the open file `opened[0]`, its siblings opened into `opened` too.

        Kept for later requests when every file in it is settled and each sibling is either
        servable or absent; its small bodies are read for it within the budget. When it
        cannot be kept, only the siblings in `accepted` (those this request may get) are
        opened and checked; for the others, whether they exist is enough (Vary).
        """
        path = opened[0].path
        keep = self._entries.enabled and self._settled(opened[0], before_stat)
        parent = os.path.dirname(path)
        # Before the siblings are looked for (cache.py: the folder's shortcut).
        parent_identity = self._settled_folder(parent, before_stat) if keep else None
        wanted = None if keep else {sibling.coding for sibling in accepted}
        probes, cacheable, vary, named = self._open_siblings(root, path, opened, wanted)
        keep = keep and cacheable and all(self._settled(item, before_stat) for item in opened)
        if named or all(known is not None for _, known in probes):
            parent_identity = None  # a name access takes for absent; or nothing to spare
        bodies = self._read_bodies(opened) if keep else {}
        if bodies is None:  # a file shrank while we read it: answer, but keep nothing
            keep, bodies = False, {}
        name = os.fsdecode(path.rsplit(b"/", 1)[-1])
        type_, cache_control = content_type(name), self._cache_control(name)
        reps = {
            item.coding: representation(
                item.path,
                item.coding,
                item.info,
                type_,
                cache_control,
                vary,
                keep,
                bodies.get(item.coding),
            )
            for item in opened
        }
        ident = cache.identity(opened[0].info)
        entry = Entry(path, directory, ident, probes, reps, parent, parent_identity)
        if keep:
            self._entries.put(key, entry, entry.body_bytes)
        return entry

    def _settled(self, item: Opened, before_stat: int) -> bool:
        return cache.settled(cache.identity(item.info), before_stat, self._settle_ns)

    def _settled_folder(self, folder: bytes, before_stat: int) -> cache.Identity | None:
        """The identity of the folder holding a file, if it is settled (cache.py)."""
        try:
            ident = cache.identity(os.stat(folder))
        except OSError:
            return None
        return ident if cache.settled(ident, before_stat, self._settle_ns) else None

    def _open_siblings(
        self, root: bytes, path: bytes, opened: list[Opened], wanted: set[str] | None
    ) -> tuple[Probes, bool, bool, bool]:
        """Open the precompressed siblings (those `wanted`, or all) under the full check,
        adding them to `opened`.

        Returns how an entry revalidates them, whether an entry may be kept (each is either
        servable or absent), whether the file has a sibling (Vary), and whether an absent
        one has a name all the same (a dangling symlink: the folder's shortcut would not
        see its target appear; looked for only when all are opened, for an entry).
        """
        follow = self._follow
        probes: list[tuple[bytes, cache.Identity | None]] = []
        cacheable, vary, named = True, False, False
        for coding, suffix in codings.SIBLINGS:
            sibling = path + suffix.encode()
            # The probe an entry repeats; and cheaper than a failing open (no exception).
            if not os.access(sibling, os.F_OK, effective_ids=True):
                probes.append((sibling, None))
                named = named or (wanted is None and os.path.lexists(sibling))
                continue
            if wanted is not None and coding not in wanted:
                vary = vary or os.path.isfile(sibling)  # all this answer needs to know
                cacheable = False
                continue
            found = _open_regular(sibling, root, follow)
            if found is None:
                # Something we may not serve (a symlink out of the root, a directory, an
                # unreadable file): right for this answer, but no entry could tell it changed.
                cacheable = False
                vary = vary or os.path.isfile(sibling)
                probes.append((sibling, None))
                continue
            fd, info = found
            opened.append(Opened(coding, sibling, fd, info))
            probes.append((sibling, cache.identity(info)))
            vary = True
        return tuple(probes), cacheable, vary, named

    def _read_bodies(self, opened: list[Opened]) -> dict[str, bytes] | None:
        """The contents of the small files in `opened` if they fit the budget ({} if not)."""
        small = [item for item in opened if item.info.st_size <= INLINE_LIMIT]
        if sum(item.info.st_size for item in small) > self._entries.max_weight:
            return {}
        bodies = {}
        for item in small:
            data = os.pread(item.fd, item.info.st_size, 0)
            if len(data) != item.info.st_size:
                return None
            bodies[item.coding] = data
        return bodies

    def _cache_control(self, name: str) -> str:
        if self._immutable_fingerprinted and _FINGERPRINT.search(name):
            return IMMUTABLE_CACHE_CONTROL
        return self._cache_control_value


def _open_regular(path: bytes, root: bytes, follow: bool) -> tuple[int, os.stat_result] | None:
    """`path` opened under the containment check with its fstat, if it is a regular file."""
    try:
        fd = paths.open_inside(path, root, follow)
    except paths.NotFound:
        return None
    try:
        info = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    if paths.is_regular(info.st_mode):
        return fd, info
    os.close(fd)
    return None
