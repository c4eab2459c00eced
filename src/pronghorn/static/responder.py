"""The static-file responder: one request under a `--static` mount, answered in full.

Owns the order of decisions for a request the mounts claim: path checks and open
(`paths`), directory redirect and index file, method (GET/HEAD, else 405), then the entry
that describes the file and its precompressed siblings (`lookup`), and the answer written
from it (`answer`: content coding, validators and preconditions, ranges, the head and the
body from memory, one `pread`, or the sink's `sendfile`). Runs on the application thread,
like an app; it returns None when the request belongs to the app.

There are two ways to the same answer. The full path checks and opens the file and its
precompressed siblings and describes them in an `Entry` (`cache`), kept for later. A later
GET or HEAD of the same path answers from that entry once one `stat` shows the file is still
the one it describes: no open, no containment check, no sibling search, heads prebuilt, small
bodies from memory. `cache` explains why that keeps every guarantee of the full path.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from pronghorn.channel import ClientDisconnected, ResponseSink
from pronghorn.config.model import StaticMount
from pronghorn.http.events import RequestHead
from pronghorn.static import cache, codings, paths
from pronghorn.static.answer import (
    Body,
    Changed,
    answer,
    answer_error,
    choose,
    plain_answer,
    redirect,
    request_fields,
)
from pronghorn.static.cache import BoundedCache, Entry
from pronghorn.static.lookup import EntryMaker, Opened, Route
from pronghorn.wsgi.runner import Outcome

DEFAULT_CACHE_CONTROL: Final = "public, max-age=0, must-revalidate"
DEFAULT_CACHE_ENTRIES: Final = 1024
DEFAULT_CACHE_BYTES: Final = 8 << 20
INDEX_NAME: Final = b"index.html"
_READ_METHODS: Final = ("GET", "HEAD")


@dataclass(frozen=True, slots=True)
class StaticOptions:
    """How the mounts behave; every field has the default the docs describe."""

    fallthrough: bool = False
    cache_control: str = DEFAULT_CACHE_CONTROL
    immutable_fingerprinted: bool = False
    allow_dotfiles: bool = False
    follow_outside_symlinks: bool = False
    cache_entries: int = DEFAULT_CACHE_ENTRIES
    """Files (and request paths) remembered per worker; 0 turns the cache off."""
    cache_bytes: int = DEFAULT_CACHE_BYTES
    """Bytes of small files' contents kept in memory per worker; 0 keeps none."""


class StaticFiles:
    """Answers requests under the mounts; `serve` returns None for requests of the app.

    One instance per worker, shared by its request threads: the caches in it are read
    without a lock (see `cache.BoundedCache`). `settle_ns` is `cache.SETTLE_NS` except in
    tests, which cache files they have just written.
    """

    def __init__(
        self,
        mounts: Sequence[StaticMount],
        options: StaticOptions,
        *,
        has_app: bool,
        error_log: logging.Logger,
        settle_ns: int = cache.SETTLE_NS,
    ) -> None:
        self._mounts = paths.make_mounts([(m.prefix, m.directory) for m in mounts])
        self._options = options
        self._has_app = has_app
        self._error_log = error_log
        self._routes: BoundedCache[bytes, Route] = BoundedCache(options.cache_entries)
        self._entries: BoundedCache[bytes, Entry] = BoundedCache(
            options.cache_entries, options.cache_bytes
        )
        self._maker = EntryMaker(
            self._entries,
            follow_outside_symlinks=options.follow_outside_symlinks,
            cache_control=options.cache_control,
            immutable_fingerprinted=options.immutable_fingerprinted,
            settle_ns=settle_ns,
        )

    def serve(self, head: RequestHead, sink: ResponseSink, date: str) -> Outcome | None:
        """Answer `head` if a mount claims it (or there is no app); None passes it on.

        A named error boundary, like the app call: an unexpected error (a full descriptor
        table, an I/O error) is logged with the request and answered 500.
        """
        try:
            return self._serve(head, sink, date)
        except ClientDisconnected:
            sink.abort()
            return Outcome(499, 0, False, [])
        except Exception:
            target = head.target.decode("latin-1")[:200]
            self._error_log.exception("error serving static %s %s", head.method, target)
            return answer_error(head, sink, date, 500)

    def _serve(self, head: RequestHead, sink: ResponseSink, date: str) -> Outcome | None:
        route = self._routes.get(head.path)
        if route is None:
            located = paths.locate(self._mounts, head.path, self._options.allow_dotfiles)
            if located is None:
                return None if self._has_app else answer_error(head, sink, date, 404)
            if isinstance(located, paths.Refused):
                return answer_error(head, sink, date, located.status)
            # Only paths under a mount are kept: refusals and the app's paths are cheap to
            # recompute, and a flood of them must not push out the paths being served.
            route = Route(located, located.fs_path())
            self._routes.put(head.path, route)
        if head.method in _READ_METHODS:
            entry = self._entries.get(route.fs_path)
            # A directory's entry answers "/dir/" only; "/dir" is a redirect, "/file/" a 404.
            if entry is not None and entry.directory == route.located.trailing_slash:
                outcome = self._from_cache(head, sink, date, route.fs_path, entry)
                if outcome is not None:
                    return outcome
        return self._from_disk(head, sink, date, route)

    def _from_cache(
        self, head: RequestHead, sink: ResponseSink, date: str, key: bytes, entry: Entry
    ) -> Outcome | None:
        """Answer from `entry` if the disk still holds what it saw; None: take the full path."""
        if not cache.unchanged(entry):
            self._entries.drop(key, entry)
            return None
        fields = request_fields(head)
        rep = choose(entry, fields)
        outcome = plain_answer(head, sink, date, fields, rep)
        if outcome is not None:
            return outcome
        body = Body(rep)
        try:
            return answer(head, sink, date, fields, rep, body)
        except Changed:
            self._entries.drop(key, entry)
            return None
        finally:
            body.close()

    def _from_disk(
        self, head: RequestHead, sink: ResponseSink, date: str, route: Route
    ) -> Outcome | None:
        """The full path: open under the containment check, fstat, answer, keep an entry."""
        located, path = route
        root, follow = located.mount.root, self._options.follow_outside_symlinks
        before_stat = time.time_ns()  # see cache.settled: taken before any stat of the file
        try:
            fd = paths.open_inside(path, root, follow)
        except paths.NotFound:
            return self._missing(head, sink, date)
        try:
            info = os.fstat(fd)
            directory = paths.is_directory(info.st_mode)
            if directory:
                os.close(fd)
                fd = -1
                if not located.trailing_slash:
                    return redirect(head, sink, date, located.url_path() + "/")
                path = os.path.join(path, INDEX_NAME)
                fd = paths.open_inside(path, root, follow)
                info = os.fstat(fd)
            if not paths.is_regular(info.st_mode) or (
                located.trailing_slash and path.rsplit(b"/", 1)[-1] != INDEX_NAME
            ):
                return self._missing(head, sink, date)
            if head.method not in _READ_METHODS:
                return answer_error(head, sink, date, 405, [("Allow", "GET, HEAD")])
            opened = [Opened("", path, fd, info)]
            try:
                fields = request_fields(head)
                accepted = codings.preferred_codings(fields.get(b"accept-encoding"))
                entry = self._maker.examine(
                    root, opened, directory, before_stat, route.fs_path, accepted
                )
                rep = choose(entry, fields)
                descriptor = next(item.fd for item in opened if item.coding == rep.coding)
                return answer(head, sink, date, fields, rep, Body(rep, descriptor))
            finally:
                for sibling in opened[1:]:
                    os.close(sibling.fd)
        except paths.NotFound:
            return self._missing(head, sink, date)
        finally:
            if fd >= 0:
                os.close(fd)

    def _missing(self, head: RequestHead, sink: ResponseSink, date: str) -> Outcome | None:
        if self._options.fallthrough and self._has_app:
            return None
        return answer_error(head, sink, date, 404)
